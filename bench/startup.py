"""How long the CLI takes to answer: ``baton --version``, ``--help``, a Tab, ``baton models``.

.venv/bin/python bench/startup.py [--runs 20] [--src OTHER/src] [--no-compile]

Target (issue 20): ``--version`` and ``--help`` within 0.25 s, ``baton models`` on a small
store (one model) within 0.5 s. Each command runs ``--runs`` times in a fresh interpreter,
through the module the installed script runs (``python -m baton.cli.entry``); it prints
the median and best wall time, and the median CPU time (user + system), which a busy
machine disturbs less. ``--src`` times another checkout's ``src`` the same way,
interleaved run by run, for a before/after comparison. Each command's ``floor`` line times
the libraries it cannot do without, imported alone (``FLOORS``): what this machine's speed
puts under the command, whatever baton does.

Each tree's bytecode is written first (``compileall``), as ``pip install`` does: a shell
with PYTHONDONTWRITEBYTECODE set (this VM's, CI's) would otherwise compile baton's own
modules from source on every run, 50-70 ms that no installed baton pays. ``--no-compile``
times that case.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "--version": ["--version"],
    "--help": ["--help"],
    "Tab (baton mo<Tab>)": [],
    "models (1 model)": ["models"],
}
TAB = {"_BATON_COMPLETE": "complete_bash", "COMP_WORDS": "baton mo", "COMP_CWORD": "1"}
# what each command cannot do without, imported alone: the floor under its time on this
# machine, so figures from VMs of different speeds can be read side by side
FLOORS = {
    "--version": "import baton",
    "--help": "import typer, typer.rich_utils",  # typer's rich help
    "Tab (baton mo<Tab>)": "import typer, typer._adapters",  # typer parses with pydantic
    "models (1 model)": "import typer, typer._adapters, rich.table, pydantic, sqlalchemy.engine, "
    "sqlalchemy.dialects.sqlite",
}


def script_module(src: Path) -> str:
    """The module the installed ``baton`` script runs (``baton.cli.entry`` since session 10;
    an older tree's script ran ``baton.cli.main`` itself)."""
    return "baton.cli.entry" if (src / "baton" / "cli" / "entry.py").exists() else "baton.cli.main"


def once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``python ARGS`` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,  # a tree without completion answers a Tab with its usage (exit 2)
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def compile_tree(src: Path) -> None:
    """Every module's bytecode under ``src``, where the interpreter looks for it."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(src)], check=True, stdout=subprocess.DEVNULL
    )


def small_store(home: Path, env: dict[str, str]) -> None:
    """One registered model: the digits example."""
    code = (
        "from pathlib import Path; from baton.examples import digits; "
        f"digits.build(Path({str(home / 'handover')!r}))"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    subprocess.run(
        [sys.executable, "-m", "baton.cli.main", "register", str(home / "handover")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--src", type=Path, help="another checkout's src/ to compare with")
    parser.add_argument(
        "--no-compile", action="store_true", help="leave the trees' bytecode as it is"
    )
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"this tree": here} | ({"--src": args.src.resolve()} if args.src else {})
    if not args.no_compile:
        for src in trees.values():
            compile_tree(src)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    bytecode = "as found" if args.no_compile else "compiled first"
    print(
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load}, "
        f"bytecode {bytecode}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        base |= {"BATON_HOME": str(Path(tmp) / "home"), "BATON_USER": "bench"}
        small_store(Path(tmp), base | {"PYTHONPATH": str(here)})
        for name, argv in COMMANDS.items():
            extra = TAB if not argv else {}
            results: dict[str, list[tuple[float, float]]] = {t: [] for t in [*trees, "floor"]}
            for _ in range(args.runs):
                for tree, src in trees.items():
                    env = base | extra | {"PYTHONPATH": str(src)}
                    results[tree].append(once(["-m", script_module(src), *argv], env))
                results["floor"].append(
                    once(["-c", FLOORS[name]], base | {"PYTHONPATH": str(here)})
                )
            for tree, runs in results.items():
                walls, cpus = [w for w, _ in runs], [c for _, c in runs]
                print(
                    f"{name:22s} {tree:10s} wall median {statistics.median(walls):.3f} s, "
                    f"best {min(walls):.3f} s; CPU median {statistics.median(cpus):.3f} s"
                )
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
