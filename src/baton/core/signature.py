"""Tensor signatures: what a model takes and gives, and how to tell two apart.

Shapes use ``-1`` for a dimension the caller chooses (usually the batch).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from baton.errors import BadInput


class DType(StrEnum):
    """Element types, named as numpy names them (``string`` holds text/bytes)."""

    BOOL = "bool"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"

    @property
    def v2(self) -> str:
        """The Open Inference Protocol (KServe V2) datatype name."""
        return _V2[self]

    @classmethod
    def from_v2(cls, name: str) -> DType:
        for dtype, v2 in _V2.items():
            if v2 == name:
                return dtype
        raise BadInput(f"unknown datatype {name!r}: use one of {', '.join(sorted(_V2.values()))}")


_V2: dict[DType, str] = {
    DType.BOOL: "BOOL",
    DType.UINT8: "UINT8",
    DType.UINT16: "UINT16",
    DType.UINT32: "UINT32",
    DType.UINT64: "UINT64",
    DType.INT8: "INT8",
    DType.INT16: "INT16",
    DType.INT32: "INT32",
    DType.INT64: "INT64",
    DType.FLOAT16: "FP16",
    DType.FLOAT32: "FP32",
    DType.FLOAT64: "FP64",
    DType.STRING: "BYTES",
}


_MAX_DIM = 2**63 - 1  # ONNX stores dimensions as int64


class TensorSpec(BaseModel):
    """One named tensor: dtype and shape (``-1`` = any size)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    dtype: DType
    shape: tuple[int, ...] = Field(description="dimensions; -1 for a dynamic one")

    @field_validator("shape")
    @classmethod
    def _dims_valid(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        for dim in shape:
            if dim == 0 or dim < -1:
                raise ValueError(f"dimension {dim} is not allowed: use a size >= 1, or -1")
            if dim > _MAX_DIM:
                raise ValueError(f"dimension {dim} is larger than ONNX allows (2**63 - 1)")
        return shape

    def describe(self) -> str:
        dims = ", ".join("?" if d == -1 else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype.value}[{dims}]"


class Signature(BaseModel):
    """The inputs and outputs of a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: tuple[TensorSpec, ...] = Field(min_length=1)
    outputs: tuple[TensorSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Signature:
        for side, specs in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [s.name for s in specs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{side} repeat the name(s) {', '.join(dupes)}")
        return self

    def input(self, name: str) -> TensorSpec:
        return _find(self.inputs, name, "input")

    def output(self, name: str) -> TensorSpec:
        return _find(self.outputs, name, "output")


def _find(specs: tuple[TensorSpec, ...], name: str, side: str) -> TensorSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in specs)
    raise BadInput(f"unknown {side} {name!r}: the model's {side}s are {known}")


def dims_compatible(declared: int, actual: int) -> bool:
    """Whether a declared dimension is honoured by the model's own dimension.

    A fixed declared size may narrow a dynamic model dimension; a dynamic declared size
    cannot widen a fixed one.
    """
    if actual == -1:
        return True
    return declared == actual


def signature_mismatches(declared: Signature, actual: Signature) -> list[str]:
    """Every way the declared signature disagrees with the model's real one, in words."""
    problems: list[str] = []
    for side, want, have in (
        ("input", declared.inputs, actual.inputs),
        ("output", declared.outputs, actual.outputs),
    ):
        have_by_name = {s.name: s for s in have}
        want_names = {s.name for s in want}
        for spec in want:
            real = have_by_name.get(spec.name)
            if real is None:
                names = ", ".join(s.name for s in have)
                problems.append(f"{side} {spec.name!r} is not in the model (it has {names})")
                continue
            if spec.dtype != real.dtype:
                problems.append(
                    f"{side} {spec.name!r} is declared {spec.dtype.value} "
                    f"but the model uses {real.dtype.value}"
                )
            if len(spec.shape) != len(real.shape):
                problems.append(
                    f"{side} {spec.name!r} is declared with {len(spec.shape)} dimensions "
                    f"but the model has {len(real.shape)} ({real.describe()})"
                )
            elif not all(
                dims_compatible(d, a) for d, a in zip(spec.shape, real.shape, strict=True)
            ):
                problems.append(
                    f"{side} {spec.name!r} is declared {list(spec.shape)} "
                    f"but the model's shape is {list(real.shape)}"
                )
        if side == "input":
            missing = [s.name for s in have if s.name not in want_names]
            if missing:
                problems.append(f"model input(s) {', '.join(missing)} are not declared")
    return problems
