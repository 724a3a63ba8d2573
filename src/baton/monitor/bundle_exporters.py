"""Exporters from the hub as part of a monitoring bundle, kept across regenerations.

A bundle that takes an exporter scrapes it (its jobs join ``prometheus.yml``), loads its
alert rules (``rule_files``), proves them (``monitor check`` runs its rule tests) and
ships its dashboard. The chosen names are written into the bundle itself
(``exporters/exporters.yaml``), so regenerating the bundle with ``monitor bundle`` or
``monitor up`` keeps them without anyone having to say them again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from baton.errors import Corrupt
from baton.monitor import hub
from baton.yaml_files import YamlLimits, load_yaml, yaml_problem

KEPT_FILE = f"{hub.BUNDLE_SUBDIR}/exporters.yaml"
RULES_GLOB = f"{hub.BUNDLE_SUBDIR}/*/{hub.RULES}"
RULE_TESTS_GLOB = f"{hub.BUNDLE_SUBDIR}/*/{hub.RULE_TESTS}"
DASHBOARDS = "dashboards/exporters"


def kept(folder: Path) -> list[str]:
    """The exporters a bundle folder has taken so far (none for a new folder)."""
    path = folder / KEPT_FILE
    if not path.is_file():
        return []
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"), str(path), YamlLimits()) or {}
    except yaml.YAMLError as exc:
        raise Corrupt(
            f"{path}: not valid YAML{yaml_problem(exc)}; delete it and add again"
        ) from None
    names = doc.get("exporters") if isinstance(doc, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Corrupt(f"{path} must hold `exporters: [NAME, ...]`; delete it and add again")
    return names


def merged(*groups: Sequence[str]) -> list[str]:
    """Names in first-seen order, each once."""
    return list(dict.fromkeys(name for group in groups for name in group))


def kept_text(names: Sequence[str]) -> str:
    return "# The hub exporters this bundle takes; `baton exporters add` keeps this list.\n" + (
        yaml.safe_dump({"exporters": list(names)}, sort_keys=False)
    )


def exporter_files(exporters: Sequence[hub.Exporter]) -> dict[str, str]:
    """Each exporter's bundle files, its dashboard under ``dashboards/exporters/``, the list."""
    files: dict[str, str] = {}
    for exporter in exporters:
        for name in hub.BUNDLE_FILES:
            text = exporter.file(name).read_text(encoding="utf-8")
            files[f"{hub.BUNDLE_SUBDIR}/{exporter.name}/{name}"] = text
        files[f"{DASHBOARDS}/{exporter.name}.json"] = exporter.file(hub.DASHBOARD).read_text(
            encoding="utf-8"
        )
    if exporters:
        files[KEPT_FILE] = kept_text([e.name for e in exporters])
    return files


def with_exporters(
    config: Mapping[str, object], exporters: Sequence[hub.Exporter]
) -> tuple[dict[str, object], list[str]]:
    """``config`` with every exporter's scrape jobs and rule files; notes on what was skipped.

    A job whose name the configuration already has (the bundle's own ``baton`` job, or an
    exporter added before) is left as it is: Prometheus refuses two jobs of one name.
    """
    out = dict(config)
    jobs = _list(out.get("scrape_configs"))
    notes: list[str] = []
    for exporter in exporters:
        for job in exporter.scrape_configs():
            name = job.get("job_name")
            if any(isinstance(j, dict) and j.get("job_name") == name for j in jobs):
                notes.append(
                    f"{exporter.name}: prometheus.yml already has a job named "
                    f"{name!r}; kept that one"
                )
                continue
            jobs.append(job)
    out["scrape_configs"] = jobs
    # One path each: Prometheus takes a glob only in a rule file path's last element.
    rule_files = [*_list(out.get("rule_files")), *(rules_path(e.name) for e in exporters)]
    out["rule_files"] = list(dict.fromkeys(rule_files))
    return out, notes


def _list(value: object) -> list[object]:
    """A YAML list as a new list; nothing for a key that is missing (or null)."""
    return list(value) if isinstance(value, list) else []


def rules_path(name: str) -> str:
    return f"{hub.BUNDLE_SUBDIR}/{name}/{hub.RULES}"


def dump_config(config: dict[str, object]) -> str:
    return yaml.safe_dump(config, sort_keys=False, width=120)


def add_to_folder(names: Sequence[str], out: Path) -> tuple[list[hub.Added], list[str]]:
    """``exporters add``: copy each entry into ``out``, keep the list, and where ``out`` is a
    bundle, join the jobs and rules to its ``prometheus.yml`` (rewritten atomically)."""
    exporters = [hub.load(name) for name in names]  # refuse an unknown name before writing
    added = [hub.add(e.name, out) for e in exporters]
    everyone = [hub.load(n) for n in merged(kept(out), names)]
    for relative, text in exporter_files(everyone).items():
        if relative.startswith(f"{DASHBOARDS}/") or relative == KEPT_FILE:
            _replace(out / relative, text)
    notes: list[str] = []
    prometheus = out / "prometheus.yml"
    if prometheus.is_file():
        try:
            text = prometheus.read_text(encoding="utf-8")
            config = load_yaml(text, str(prometheus), YamlLimits()) or {}
        except yaml.YAMLError as exc:
            raise Corrupt(f"{prometheus}: not valid YAML{yaml_problem(exc)}") from None
        updated, notes = with_exporters(config, exporters)
        _replace(prometheus, dump_config(updated))
    return added, notes


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
