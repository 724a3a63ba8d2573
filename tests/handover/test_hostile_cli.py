"""Hostile hand-overs through the real ``baton register``: exit 2, one line, nothing stored.

Each case is a folder a stranger could send: links and paths that lead out of it, a
manifest built to exhaust memory or the parser, a model or eval file built to crash the
checks. None may be stored, and none may reach baton's "internal error" (exit 3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper

from baton.config import Settings
from baton.runtime.mlp import random_mlp
from baton.store.store import open_store
from tests.baton_cli import baton, clean_env
from tests.handover_factory import write_handover


def edit(folder: Path, **changes: object) -> None:
    data = yaml.safe_load((folder / "baton.yaml").read_text())
    data.update(changes)
    (folder / "baton.yaml").write_text(yaml.safe_dump(data))


def append(folder: Path, text: str) -> None:
    with (folder / "baton.yaml").open("a") as f:
        f.write(text)


def _secret(folder: Path) -> Path:
    secret = folder.parent / "shadow"
    secret.write_text("root:$6$not-for-you:19000:0:99999:7:::\n")
    secret.chmod(0o600)
    return secret


def link_to_a_file_outside(f: Path) -> None:
    (f / "eval.npz").unlink()
    (f / "eval.npz").symlink_to(_secret(f))


def link_to_a_folder_outside(f: Path) -> None:
    outside = f.parent / "outside"
    outside.mkdir()
    (f / "eval.npz").rename(outside / "eval.npz")
    (f / "data").symlink_to(outside)
    edit(f, eval={"data": "data/eval.npz"})


def climbs_out(f: Path) -> None:
    (f / "eval.npz").rename(f.parent / "eval.npz")
    edit(f, eval={"data": "../eval.npz"})


def absolute_model(f: Path) -> None:
    edit(f, model=str((f / "model.onnx").resolve()))


def huge_manifest(f: Path) -> None:
    edit(f, description="x" * (2 << 20))


def deep_nesting(f: Path) -> None:
    append(f, "lineage: " + "[" * 600 + "]" * 600 + "\n")


def many_keys(f: Path) -> None:
    keys = ", ".join(f"k{i}: 0" for i in range(60_000))
    append(f, "lineage: {" + keys + "}\n")


def billion_laughs(f: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    append(f, "x-bomb:\n" + "\n".join("  " + line for line in lines) + "\n")


def impossible_date(f: Path) -> None:
    append(f, "version: 2026-13-45\n")


def long_input_name(f: Path) -> None:
    model = random_mlp([4, 8, 3])
    long = "x" * 200
    model.graph.input[0].name = long
    model.graph.node[0].input[0] = long
    onnx.save(model, str(f / "model.onnx"))


def no_inputs(f: Path) -> None:
    value = helper.make_tensor("v", TensorProto.FLOAT, [1, 3], [0.1, 0.2, 0.7])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["probabilities"], value=value)],
        "g",
        [],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(f / "model.onnx"))


def nan_claim(f: Path) -> None:
    edit(f, eval={"data": "eval.npz", "claimed": {"accuracy": float("nan")}})


def infinite_slo(f: Path) -> None:
    edit(f, slo={"p99_latency_ms": float("inf")})


def unreadable_eval(f: Path) -> None:
    (f / "eval.npz").write_bytes((f / "eval.npz").read_bytes()[:200])


def misfit_eval(f: Path) -> None:
    np.savez(f / "eval.npz", input=np.zeros((8, 5), np.float32), label=np.zeros(8, np.int64))


CASES: list[tuple[Callable[[Path], None], str]] = [
    (link_to_a_file_outside, "eval.data 'eval.npz' in baton.yaml leads outside"),
    (link_to_a_folder_outside, "eval.data 'data/eval.npz' in baton.yaml leads outside"),
    (climbs_out, "eval.data '../eval.npz' in baton.yaml climbs out"),
    (absolute_model, "model '/.*model.onnx' in baton.yaml is an absolute path"),
    (huge_manifest, "baton.yaml holds more than 1,048,576 bytes"),
    (deep_nesting, "baton.yaml holds more than 32 levels of nesting at line"),
    (many_keys, "baton.yaml holds more than 100,000 keys, values and items"),
    (billion_laughs, "baton.yaml holds more than 100,000 keys, values and items"),
    (impossible_date, "baton.yaml is not valid YAML at line .*: cannot read '2026-13-45'"),
    (long_input_name, "model input 'xxx.*' cannot be served: name: String should have at most"),
    (no_inputs, "the model has no inputs"),
    (nan_claim, "eval.claimed.accuracy: Input should be a finite number"),
    (infinite_slo, "slo.p99_latency_ms: Input should be a finite number"),
    (unreadable_eval, "eval data eval.npz cannot be read as .npz"),
    (misfit_eval, "eval data eval.npz: array 'input' has shape .* but 'input' needs"),
]


@pytest.mark.parametrize(("break_it", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_hostile_handover_is_refused_in_one_line_and_nothing_is_stored(
    tmp_path: Path, break_it: Callable[[Path], None], message: str
) -> None:
    folder = write_handover(tmp_path / "h")
    break_it(folder)
    home = tmp_path / "home"
    result = baton(clean_env(home), "register", str(folder))
    assert result.returncode == 2, result.stderr[-2000:]
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("error: "), line[:2000]
    assert re.search(message, line), line
    store = open_store(Settings(home=home))
    try:
        assert store.registry.models() == []
        assert store.artifacts.all_digests() == []
    finally:
        store.close()


def test_the_manifest_limits_are_settings(tmp_path: Path) -> None:
    """A deployment may lower (or raise) the bounds; the refusal names the setting."""
    folder = write_handover(tmp_path / "h", description="x" * 5000)
    env = clean_env(tmp_path / "home", BATON_MANIFEST_MAX_STRING="4096")
    refused = baton(env, "register", str(folder))
    assert refused.returncode == 2
    assert "(or raise BATON_MANIFEST_MAX_STRING)" in refused.stderr
    env["BATON_MANIFEST_MAX_STRING"] = "8192"
    assert baton(env, "register", str(folder)).returncode == 0
