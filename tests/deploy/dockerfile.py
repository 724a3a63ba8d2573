"""Run a rendered Dockerfile's steps on this machine, as far as a machine with no container
runtime can: a fresh venv for the base image's Python, a folder for the image's root.

``FROM`` gives the interpreter (``python -m venv``: the base image's own ``pip`` and
``python``), ``ENV`` the environment, ``WORKDIR``/``COPY`` copy the context into the root
folder, ``RUN`` runs in a shell there with the venv first on ``PATH``, and ENTRYPOINT +
CMD give the command to start. Absolute image paths map into the root folder. ``USER``
cannot change here (the test runs as whoever runs it) and is only recorded.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Image:
    """What the steps built: where the image's root is, its environment and commands."""

    root: Path
    venv: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)

    def path(self, image_path: str) -> Path:
        """An absolute path inside the image, on this machine."""
        return self.root / image_path.lstrip("/")

    def environ(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        path = f"{self.venv / 'bin'}{os.pathsep}{keep.get('PATH', '')}"
        return {**keep, **self.env, "PATH": path, "VIRTUAL_ENV": str(self.venv)}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        steps.append((keyword.upper(), rest.strip()))
        pending = ""
    return steps


def build(dockerfile: Path, root: Path, python: str, timeout: float) -> Image:
    """Carry out the Dockerfile's steps with ``dockerfile``'s folder as the build context."""
    context = dockerfile.parent
    image = Image(root=root, venv=root / "venv")
    subprocess.run([python, "-m", "venv", str(image.venv)], check=True, timeout=timeout)
    for keyword, args in instructions(dockerfile.read_text()):
        if keyword == "ENV":
            image.env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
        elif keyword == "WORKDIR":
            image.workdir = args
            image.path(args).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":  # --chown: recorded only, as USER is
            _copy(image, context, *(a for a in shlex.split(args) if not a.startswith("--chown=")))
        elif keyword == "RUN":
            cwd = image.path(image.workdir)
            run = subprocess.run(
                ["bash", "-c", args], cwd=cwd, env=image.environ(), capture_output=True,
                text=True, timeout=timeout, check=False,
            )  # fmt: skip
            assert run.returncode == 0, f"RUN {args}\n{run.stdout[-2000:]}{run.stderr[-3000:]}"
        elif keyword == "USER":
            image.user = args
        elif keyword in ("ENTRYPOINT", "CMD"):
            setattr(image, keyword.lower(), json.loads(args))  # exec form, as rendered
        elif keyword == "HEALTHCHECK":
            image.healthcheck = json.loads(args.split(" CMD ", 1)[1])
        elif keyword not in ("ARG", "FROM", "LABEL", "EXPOSE"):
            raise AssertionError(f"{keyword}: a step this test cannot carry out; teach it")
    return image


def _copy(image: Image, context: Path, source: str, dest: str) -> None:
    target = image.path(dest if dest.startswith("/") else f"{image.workdir}/{dest}")
    origin = context / source
    if origin.is_dir():
        shutil.copytree(origin, target, dirs_exist_ok=True)
    elif dest.endswith("/"):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target / origin.name)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
