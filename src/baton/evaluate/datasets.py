"""Eval data (.npz, .csv, .parquet, .jsonl) mapped onto a model's signature, in batches.

Files are streamed, never loaded whole: ``.npz`` members are read row block by row block
from the archive, Parquet by row groups, CSV by blocks, JSON Lines line by line. Arrays or
columns are named after the model's inputs (a 64-wide input ``x`` is one array ``x``, a list
column ``x``, or columns ``x_0 .. x_63``), the ground truth under ``eval.target``, and
reference outputs, when given, under the output's name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from baton.core.signature import DType, Signature, TensorSpec
from baton.errors import BadInput
from baton.evaluate.npy_stream import MemberLayout, NpzArrays, npy_header

if TYPE_CHECKING:
    from pydantic import JsonValue

FORMATS = (".npz", ".csv", ".parquet", ".jsonl")
Columns = dict[str, np.ndarray]


class Batch(NamedTuple):
    """Rows ``start``.. of every column (a tuple: a pass makes one per batch)."""

    start: int  # index of the first row in the file
    inputs: Columns
    target: np.ndarray | None
    reference: Columns  # expected outputs given in the data, by output name

    @property
    def rows(self) -> int:
        return len(next(iter(self.inputs.values())))


class Mapped(NamedTuple):
    """Every row of each column, as read-only views of the mapped eval file."""

    inputs: Columns
    target: np.ndarray | None
    reference: Columns


def _numpy_dtype(spec: TensorSpec) -> np.dtype[Any]:
    return np.dtype(object) if spec.dtype is DType.STRING else np.dtype(spec.dtype.value)


def _feature_shape(spec: TensorSpec) -> tuple[int, ...]:
    return tuple(spec.shape[1:])


class EvalData:
    """One eval file, checked against the signature; ``batches()`` streams it."""

    def __init__(self, path: Path, filename: str, signature: Signature, target: str | None):
        self.path = path
        self.filename = filename
        self.signature = signature
        self.target = target
        self.format = Path(filename).suffix.lower()
        if self.format not in FORMATS:
            raise BadInput(f"eval data {filename}: use one of {', '.join(FORMATS)}")
        if not path.is_file() or path.stat().st_size == 0:
            raise BadInput(f"eval data {filename} is empty: hand over the held-out rows")
        self._input_names = [s.name for s in signature.inputs]
        self._output_names = {s.name for s in signature.outputs}
        self._fitted: set[tuple[str, np.dtype[Any], tuple[int, ...]]] = set()
        self._npz = NpzArrays(path, filename) if self.format == ".npz" else None
        self.rows = self._count_rows()
        if self.rows == 0:
            raise BadInput(f"eval data {filename} has no rows: hand over the held-out rows")

    def has_key(self, name: str) -> bool:
        """Whether the file holds an array or column ``name`` (e.g. an optional target)."""
        if self.format == ".npz":
            assert self._npz is not None
            with self._npz.archive() as archive:
                return f"{name}.npy" in archive.namelist()
        if self.format == ".jsonl":
            with self.path.open("rb") as f:
                first = f.readline()
            try:
                row = json.loads(first)
            except (ValueError, RecursionError):
                return False
            return isinstance(row, dict) and name in row
        if self.format == ".parquet":
            import pyarrow.parquet as pq

            schema = _arrow(lambda: pq.ParquetFile(self.path).schema_arrow, self.filename)
            return name in schema.names
        import pyarrow.csv as pcsv

        reader = _arrow(lambda: pcsv.open_csv(self.path), self.filename)
        return name in reader.schema.names

    def mapped(self) -> Mapped | None:
        """Every column as one view of the mapped file, when it is a stored .npz that needs
        no cast (else None: stream ``batches()``): a pass then slices them, nothing is
        gathered per batch, and the target and reference outputs are whole already."""
        columns = self._npz_mapped()
        if columns is None:
            return None
        return Mapped(
            inputs={name: columns[name] for name in self._input_names},
            target=columns.get(self.target) if self.target else None,
            reference={k: v for k, v in columns.items() if k in self._output_names},
        )

    def batches(self, batch_size: int = 1024) -> Iterator[Batch]:
        """Batches of exactly ``batch_size`` rows (the last may be shorter)."""
        mapped = self._npz_mapped()
        if mapped is not None:
            yield from self._sliced(mapped, batch_size)
            return
        pending: list[Columns] = []
        held = 0
        start = 0
        for chunk in self._chunks(batch_size):
            size = _length(chunk)
            if not pending and size == batch_size:  # the common case: no re-slicing
                yield self._batch(start, chunk)
                start += size
                continue
            pending.append(chunk)
            held += size
            while held >= batch_size:
                merged = _concat(pending)
                head = {k: v[:batch_size] for k, v in merged.items()}
                rest = {k: v[batch_size:] for k, v in merged.items()}
                yield self._batch(start, head)
                start += batch_size
                held -= batch_size
                pending = [rest] if held else []
        if held:
            yield self._batch(start, _concat(pending))

    # -- shaping --------------------------------------------------------------------------

    def _batch(self, start: int, columns: Columns) -> Batch:
        return Batch(
            start=start,
            inputs={name: columns[name] for name in self._input_names},
            target=columns.get(self.target) if self.target else None,
            reference={k: v for k, v in columns.items() if k in self._output_names},
        )

    def _specs(self) -> list[TensorSpec]:
        """Inputs first; then the target and reference outputs, which are optional."""
        return [*self.signature.inputs, *self.signature.outputs]

    def _fit(self, spec: TensorSpec, values: np.ndarray, where: str) -> np.ndarray:
        """Check shape and dtype against the signature; cast only where nothing is lost.

        A layout seen before (same dtype and row shape) is not checked again: this runs
        once per batch and column, on the evaluation's hot path."""
        seen = (spec.name, values.dtype, values.shape[1:])
        if seen in self._fitted:
            return values
        fitted = self._fit_first(spec, values, where)
        if fitted is values:
            self._fitted.add(seen)
        return fitted

    def _fit_first(self, spec: TensorSpec, values: np.ndarray, where: str) -> np.ndarray:
        feature = _feature_shape(spec)
        if values.ndim == 1 and len(feature) == 1 and feature[0] == 1:
            values = values[:, None]
        if values.ndim != 1 + len(feature) or not all(
            d == -1 or d == v for d, v in zip(feature, values.shape[1:], strict=True)
        ):
            want = "[rows, " + ", ".join("?" if d == -1 else str(d) for d in feature) + "]"
            raise BadInput(
                f"eval data {self.filename}: {where} has shape [rows, "
                f"{', '.join(str(d) for d in values.shape[1:])}] but {spec.name!r} needs {want}"
            )
        return _cast(values, _numpy_dtype(spec), f"eval data {self.filename}: {where}")

    # -- readers --------------------------------------------------------------------------

    def _count_rows(self) -> int:
        if self.format == ".npz":
            assert self._npz is not None
            with self._npz.archive() as archive:
                first = self.signature.inputs[0].name
                with archive.open(self._npz.info(archive, first)) as f:
                    return int(npy_header(f, first, self.filename)[0][0])
        if self.format == ".parquet":
            import pyarrow.parquet as pq

            return int(_arrow(lambda: pq.ParquetFile(self.path), self.filename).metadata.num_rows)
        lines = 0
        last = b"\n"
        with self.path.open("rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"
        if self.format == ".csv":
            return max(lines - 1, 0)
        return lines

    def _chunks(self, batch_size: int) -> Iterator[Columns]:
        if self.format == ".npz":
            yield from self._npz_chunks(batch_size)
        elif self.format == ".jsonl":
            yield from self._jsonl_chunks(batch_size)
        else:
            yield from self._arrow_chunks(batch_size)

    def _npz_layout(self) -> dict[str, MemberLayout]:
        def wanted(names: set[str]) -> list[str]:
            specs = self._specs()
            keys = [s.name for s in specs if s.name in names or s in self.signature.inputs]
            return [*keys, self.target] if self.target else keys

        assert self._npz is not None
        return self._npz.layout(wanted, self.rows)

    def whole_target(self) -> np.ndarray | None:
        """The whole target as one read-only view, when the file holds it as a stored .npz
        array (no pass needed, nothing copied); else None and the batches carry it."""
        if self._npz is None or not self.target:
            return None
        self._npz_layout()
        return self._npz.whole(self.target)

    def _npz_mapped(self) -> Columns | None:
        """Every array of a stored .npz as one checked view, when none needs a cast: a
        batch is then a slice of each (the hot path: no per-batch checks or copies)."""
        if self._npz is None:
            return None
        specs = {s.name: s for s in self._specs()}
        columns: Columns = {}
        for key in self._npz_layout():
            whole = self._npz.whole(key)
            if whole is None:
                return None
            if key in specs and key != self.target:
                fitted = self._fit(specs[key], whole, f"array {key!r}")
                if fitted.dtype != whole.dtype:  # a cast: done batch by batch instead
                    return None
                whole = fitted
            columns[key] = whole
        return columns

    def _sliced(self, columns: Columns, batch_size: int) -> Iterator[Batch]:
        inputs = [(name, columns[name]) for name in self._input_names]
        target = columns.get(self.target) if self.target else None
        references = [(k, v) for k, v in columns.items() if k in self._output_names]
        for start in range(0, self.rows, batch_size):
            end = start + batch_size
            yield Batch(
                start,
                {k: v[start:end] for k, v in inputs},
                None if target is None else target[start:end],
                {k: v[start:end] for k, v in references},
            )

    def _npz_chunks(self, batch_size: int) -> Iterator[Columns]:
        assert self._npz is not None
        with ExitStack() as stack:
            members = self._npz.members(self._npz_layout(), stack)
            specs = {s.name: s for s in self._specs()}
            fitted = [k for k in members if k in specs and k != self.target]
            for start in range(0, self.rows, batch_size):
                n = min(batch_size, self.rows - start)
                chunk = {key: member.read(start, n) for key, member in members.items()}
                for key in fitted:
                    chunk[key] = self._fit(specs[key], chunk[key], f"array {key!r}")
                yield chunk

    def _jsonl_chunks(self, batch_size: int) -> Iterator[Columns]:
        specs = self._specs()
        rows: list[dict[str, JsonValue]] = []
        with self.path.open("rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                    raise BadInput(
                        f"eval data {self.filename} line {number} is not JSON ({exc.args[0]})"
                    ) from None
                if not isinstance(row, dict):
                    raise BadInput(
                        f"eval data {self.filename} line {number}: expected an object "
                        f'such as {{"{specs[0].name}": [...], "{self.target}": ...}}'
                    )
                rows.append(row)
                if len(rows) == batch_size:
                    yield self._jsonl_columns(rows, number)
                    rows = []
            if rows:
                yield self._jsonl_columns(rows, number)

    def _jsonl_columns(self, rows: list[dict[str, JsonValue]], last_line: int) -> Columns:
        out: Columns = {}
        present = rows[0].keys()
        for spec in self._specs():
            if spec.name not in present and spec not in self.signature.inputs:
                continue
            try:
                values = [row[spec.name] for row in rows]
            except KeyError:
                raise BadInput(
                    f"eval data {self.filename}: a row before line {last_line + 1} has no "
                    f"{spec.name!r}: every line needs the model's inputs "
                    f"({', '.join(s.name for s in self.signature.inputs)})"
                ) from None
            try:
                array = np.asarray(values)
            except ValueError:
                raise BadInput(
                    f"eval data {self.filename}: {spec.name!r} rows before line "
                    f"{last_line + 1} differ in length; each needs the shape {list(spec.shape)}"
                ) from None
            out[spec.name] = self._fit(spec, array, f"{spec.name!r}")
        if self.target:
            try:
                out[self.target] = np.asarray([row[self.target] for row in rows])
            except KeyError:
                raise BadInput(
                    f"eval data {self.filename}: a row before line {last_line + 1} has no "
                    f"target {self.target!r} (set eval.target to the key with the truth)"
                ) from None
        return out

    def _arrow_chunks(self, batch_size: int) -> Iterator[Columns]:
        import pyarrow as pa

        batches: Iterator[pa.RecordBatch]
        if self.format == ".parquet":
            import pyarrow.parquet as pq

            parquet = _arrow(lambda: pq.ParquetFile(self.path), self.filename)
            names = parquet.schema_arrow.names
            batches = parquet.iter_batches(batch_size=batch_size)
        else:
            import pyarrow.csv as pcsv

            reader = _arrow(
                lambda: pcsv.open_csv(self.path, read_options=pcsv.ReadOptions(block_size=4 << 20)),
                self.filename,
            )
            names = reader.schema.names
            batches = iter(reader)
        plan = self._column_plan(names)
        while True:
            batch = _arrow(lambda: next(batches, None), self.filename)
            if batch is None:
                return
            yield {key: self._arrow_values(batch, key, cols) for key, cols in plan.items()}

    def _column_plan(self, names: list[str]) -> dict[str, list[str]]:
        """Which columns feed each tensor: one column named after it, or ``name_0..name_k``."""
        plan: dict[str, list[str]] = {}
        for spec in self._specs():
            feature = _feature_shape(spec)
            if spec.name in names:
                plan[spec.name] = [spec.name]
                continue
            if len(feature) == 1 and feature[0] > 0:
                wide = [f"{spec.name}_{i}" for i in range(feature[0])]
                found = [c for c in wide if c in names]
                if len(found) == len(wide):
                    plan[spec.name] = wide
                    continue
                if spec in self.signature.inputs:
                    raise BadInput(
                        f"eval data {self.filename}: input {spec.name!r} needs a column "
                        f"{spec.name!r} or the {feature[0]} columns {wide[0]}..{wide[-1]} "
                        f"(found {len(found)} of them)"
                    )
            if spec in self.signature.inputs:
                raise BadInput(
                    f"eval data {self.filename} has no column {spec.name!r} "
                    f"(columns: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}): "
                    "name the columns after the model's inputs"
                )
        if self.target:
            if self.target not in names:
                raise BadInput(
                    f"eval data {self.filename} has no target column {self.target!r}: "
                    "set eval.target to the column with the truth"
                )
            plan[self.target] = [self.target]
        return plan

    def _arrow_values(self, batch: Any, key: str, columns: list[str]) -> np.ndarray:
        import pyarrow as pa

        arrays = [batch.column(batch.schema.get_field_index(c)) for c in columns]
        if any(a.null_count for a in arrays):
            raise BadInput(
                f"eval data {self.filename}: column {columns[0]!r} has empty cells near row "
                f"{batch.num_rows}: fill or drop them"
            )
        spec = next((s for s in self._specs() if s.name == key), None)
        if len(arrays) == 1 and (
            pa.types.is_list(arrays[0].type) or pa.types.is_fixed_size_list(arrays[0].type)
        ):
            flat = arrays[0].flatten().to_numpy(zero_copy_only=False)
            rows = len(arrays[0])
            feature = _feature_shape(spec) if spec else ()
            width = math.prod(feature) if feature and -1 not in feature else None
            if rows and (width is None or flat.size != rows * width):
                raise BadInput(
                    f"eval data {self.filename}: list column {key!r} holds {flat.size} values "
                    f"for {rows} rows; each row needs {width or 'the same number of'} values"
                )
            values = flat.reshape((rows, *feature)) if feature else flat
        elif len(arrays) == 1:
            values = arrays[0].to_numpy(zero_copy_only=False)
        else:
            values = np.column_stack([a.to_numpy(zero_copy_only=False) for a in arrays])
        if spec is None or key == self.target:
            return np.asarray(values)
        return self._fit(spec, values, f"column {key!r}")


def _arrow(call: Any, filename: str) -> Any:
    import pyarrow as pa

    try:
        return call()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BadInput(f"eval data {filename} cannot be read ({first})") from None


def _cast(values: np.ndarray, dtype: np.dtype[Any], where: str) -> np.ndarray:
    if values.dtype == dtype:
        return values
    if dtype == np.dtype(object):
        if values.dtype.kind in "USO":
            return values.astype(object)
    elif values.dtype.kind in "biuf" and (
        np.can_cast(values.dtype, dtype, casting="same_kind")
        or (values.dtype.kind in "biu" and dtype.kind == "f")
    ):
        return values.astype(dtype)
    raise BadInput(f"{where} holds {values.dtype} values but the model takes {dtype.name}")


def _length(columns: Columns) -> int:
    return len(next(iter(columns.values())))


def _concat(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
