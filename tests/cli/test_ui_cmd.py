"""``baton ui``: the dashboard on its own port, said once it answers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.baton_cli import baton, clean_env


def test_baton_ui_serves_the_dashboard_on_a_free_port(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home")
    cmd = [sys.executable, "-m", "baton.cli.main", "ui", "--port", "0", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        said = json.loads(proc.stdout.readline())
        url = said["url"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/ui/")
        signin = httpx.get(f"{url}signin")  # it answers once it said so: no retry
        assert signin.status_code == 200 and "baton token" in signin.text
        assert "unsafe-inline" not in signin.headers["content-security-policy"]
        home = httpx.get(url.removesuffix("ui/"))
        assert home.status_code == 307 and home.headers["location"] == "/ui/"
        assert httpx.get(f"{url}models/x").status_code == 401  # nothing without signing in
    finally:
        proc.terminate()
        proc.wait(30)


def test_baton_ui_names_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = baton(clean_env(tmp_path / "home"), "ui", "--port", str(port))
    assert taken.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
