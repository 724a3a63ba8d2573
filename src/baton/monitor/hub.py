"""The exporter hub: a curated catalogue shipped inside the package, one folder per exporter.

Each folder holds plain files a team can read and diff (metadata, alert rules with their
promtool tests, a scrape-config fragment, a Grafana dashboard, a metrics sample, an install
guide). Everything is read from the package, so the hub works offline, and every entry is
validated on load, so a broken entry is named instead of half-copied into a bundle.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from baton.core.exporter_entry import ENTRY_FILE, ENTRY_NAME, ExporterEntry, parse_entry
from baton.errors import BadInput, Corrupt, NotFound
from baton.yaml_files import YamlLimits, load_yaml, yaml_problem

if TYPE_CHECKING:
    from pydantic import JsonValue

CATALOGUE = Path(__file__).parent / "exporters"
RULES = "rules.yaml"
RULE_TESTS = "rules.test.yaml"
SCRAPE = "scrape.yaml"
DASHBOARD = "dashboard.json"
SAMPLE = "sample.prom"
GUIDE = "README.md"
ENTRY_FILES = (ENTRY_FILE, RULES, RULE_TESTS, SCRAPE, DASHBOARD, SAMPLE, GUIDE)
# What `add` puts in a bundle: enough to scrape, alert, test the alerts and look.
BUNDLE_FILES = (ENTRY_FILE, RULES, RULE_TESTS, SCRAPE, DASHBOARD, GUIDE)
BUNDLE_SUBDIR = "exporters"
_NAME = re.compile(ENTRY_NAME)


@dataclass(frozen=True)
class Rule:
    """One alerting or recording rule, as listed by ``baton exporters show``."""

    kind: str  # "alert" or "record"
    name: str
    severity: str | None
    expr: str
    for_: str | None


@dataclass(frozen=True)
class Exporter:
    """A loaded, validated entry and the folder its files live in."""

    entry: ExporterEntry
    folder: Path
    rules: tuple[Rule, ...]

    def file(self, name: str) -> Path:
        return self.folder / name

    @property
    def name(self) -> str:
        return self.entry.name

    def dashboard(self) -> dict[str, JsonValue]:
        doc: dict[str, JsonValue] = json.loads(self.file(DASHBOARD).read_text(encoding="utf-8"))
        return doc

    def scrape_configs(self) -> list[dict[str, object]]:
        """The entry's scrape jobs (a YAML list of mappings: the hub's tests hold its shape)."""
        path = self.file(SCRAPE)
        doc = load_yaml(path.read_text(encoding="utf-8"), str(path), YamlLimits())
        configs: list[dict[str, object]] = doc["scrape_configs"]
        return configs


@dataclass(frozen=True)
class Added:
    """What ``add`` wrote: the entry, where, its files, and whether it replaced an older copy."""

    name: str
    folder: Path
    files: tuple[str, ...]
    replaced: bool


def names(root: Path = CATALOGUE) -> list[str]:
    """Every entry in the catalogue, sorted: a folder with an ``exporter.yaml``."""
    return sorted(p.parent.name for p in root.glob(f"*/{ENTRY_FILE}"))


def catalogue(root: Path = CATALOGUE) -> list[Exporter]:
    """Every entry, loaded and validated."""
    return [load(name, root) for name in names(root)]


def load(name: str, root: Path = CATALOGUE) -> Exporter:
    """One entry by name; an unknown name lists the known ones."""
    known = names(root)
    if name not in known:
        closest = _closest(name, known)
        hint = f"; did you mean {closest}?" if closest else ""
        raise NotFound(
            f"unknown exporter {name!r}{hint} (known: {', '.join(known)}; "
            "`baton exporters list` describes them)"
        )
    folder = root / name
    missing = [f for f in ENTRY_FILES if not (folder / f).is_file()]
    if missing:
        raise Corrupt(f"exporter {name}: missing {', '.join(missing)} in {folder}")
    entry = parse_entry(_yaml(folder / ENTRY_FILE), f"{name}/{ENTRY_FILE}")
    if entry.name != name:
        raise Corrupt(f"exporter {name}: {ENTRY_FILE} names it {entry.name!r}; rename one")
    return Exporter(entry=entry, folder=folder, rules=tuple(_rules(folder / RULES, name)))


def add(name: str, out: Path, root: Path = CATALOGUE) -> Added:
    """Copy an entry's rules, rule tests, scrape config and dashboard into a bundle.

    The files land in ``OUT/exporters/NAME/``; they are written to a temporary folder
    beside it and renamed into place, so a reader never sees a half-written entry and a
    failure leaves the previous copy as it was.
    """
    exporter = load(name, root)
    if out.exists() and not out.is_dir():
        raise BadInput(f"bundle directory {out} is a file; give a directory")
    parent = out / BUNDLE_SUBDIR
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create bundle directory {parent}: {exc.strerror}") from None
    target = parent / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    staging.chmod(0o755)  # mkdtemp makes it private; Prometheus often runs as another user
    old: Path | None = None
    try:
        for file in BUNDLE_FILES:
            shutil.copyfile(exporter.file(file), staging / file)
        replaced = target.exists()
        if replaced:
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=parent))
            target.rename(old / name)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not target.exists():
            (old / name).rename(target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return Added(name=name, folder=target, files=BUNDLE_FILES, replaced=replaced)


def sample_metric_names(exposition: str) -> set[str]:
    """Metric names in a text exposition: every sample's name and every ``# TYPE`` name."""
    found: set[str] = set()
    for line in exposition.splitlines():
        line = line.strip()
        if line.startswith("# TYPE "):
            found.add(line.split()[2])
        elif line and not line.startswith("#"):
            found.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return found


def _rules(path: Path, name: str) -> list[Rule]:
    doc = _yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise Corrupt(f"exporter {name}: {RULES} must be a Prometheus rule file with `groups:`")
    rules = []
    for group in doc["groups"]:
        for rule in group.get("rules", []):
            kind = "alert" if "alert" in rule else "record"
            rules.append(
                Rule(
                    kind=kind,
                    name=str(rule[kind]),
                    severity=(rule.get("labels") or {}).get("severity"),
                    expr=str(rule["expr"]).strip(),
                    for_=rule.get("for"),
                )
            )
    return rules


def _yaml(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"), str(path), YamlLimits())
    except yaml.YAMLError as exc:
        raise Corrupt(f"{path}: not valid YAML{yaml_problem(exc)}") from None


def _closest(name: str, known: list[str]) -> str | None:
    """The entry a near-miss meant: ``dcgm`` -> ``dcgm-exporter``, ``node-exporter`` -> ..."""
    if not _NAME.fullmatch(name):
        return None
    contains = [k for k in known if name in k]
    if len(contains) == 1:
        return contains[0]
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return matches[0] if matches else None
