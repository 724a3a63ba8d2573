"""The one way baton opens an ONNX Runtime session for a serving configuration.

The profile measures configurations and the server runs the one it recommends; both open
their sessions here, so threads, graph optimisation and the provider fallback are the
same in both, and the profile measures what the server runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from baton.core.serving_config import ServingConfig

CPU = "CPUExecutionProvider"
OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}

log = logging.getLogger("baton.runtime")


class CannotLoad(Exception):
    """ONNX Runtime refused the model file; the message is its first line."""


def first_line(exc: BaseException) -> str:
    """An exception as one line for a person (ONNX Runtime's messages run to pages)."""
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


def session_options(config: ServingConfig) -> Any:
    """``SessionOptions`` with the configuration's threads and graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[config.graph_optimization]
    )
    return options


def providers_for(config: ServingConfig, available: Sequence[str]) -> tuple[list[str], bool]:
    """The providers to ask for (the configured one when this machine has it, then the CPU
    as the fallback for operators it lacks), and whether the configured one is missing."""
    missing = config.provider not in available
    providers = [] if missing else [config.provider]
    if CPU not in providers:
        providers.append(CPU)
    return providers, missing


def open_session(
    path: Path | str,
    config: ServingConfig | None = None,
    *,
    on_missing: Callable[[str], None] | None = None,
) -> Any:
    """An ``InferenceSession`` for ``path`` at ``config``. A provider this machine lacks
    falls back to the CPU, and ``on_missing`` (default: a log line) is told its name, so
    each caller says it in its own words. ``CannotLoad`` when ORT refuses the file."""
    import onnxruntime as ort

    config = config or ServingConfig()
    providers, missing = providers_for(config, ort.get_available_providers())
    if missing:
        (on_missing or _say_missing)(config.provider)
    try:
        return ort.InferenceSession(str(path), session_options(config), providers=providers)
    except Exception as exc:  # ORT raises its own classes for files it cannot load
        raise CannotLoad(first_line(exc)) from None


def _say_missing(provider: str) -> None:
    log.warning("%s is not available here: running on %s", provider, CPU)
