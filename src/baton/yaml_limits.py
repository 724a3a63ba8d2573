"""How much one YAML file may hold: apart from ``yaml_files`` so that the settings, which
name these limits, do not import PyYAML (8 ms of every command's start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from baton.errors import BadInput


@dataclass(frozen=True)
class YamlLimits:
    """How much one YAML file may hold; each limit names the setting that raises it."""

    max_bytes: int = 64 << 20
    max_depth: int = 32
    max_nodes: int = 2_000_000  # keys, values and items
    max_string: int = 65_536  # characters in one key or value
    settings: str | None = None  # e.g. "BATON_MANIFEST_MAX_": the settings that raise these

    def over(self, source: str, what: str, limit: str, line: int | None = None) -> BadInput:
        """The error for a file over one limit (``limit``: BYTES, DEPTH, NODES, STRING)."""
        where = f" at line {line + 1}" if line is not None else ""
        fix = f" (or raise {self.settings}{limit})" if self.settings else ""
        return BadInput(f"{source} holds {what}{where}: keep it smaller{fix}")


# A hand-over manifest is a page of settings, not a data file (settings BATON_MANIFEST_MAX_*).
MANIFEST_LIMITS = YamlLimits(1 << 20, 32, 100_000, 65_536, settings="BATON_MANIFEST_MAX_")
