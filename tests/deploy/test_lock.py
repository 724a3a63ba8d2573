"""``requirements.lock``: every distribution pinned and hashed; the hashes are those of the
files pip really downloads (checked against a file fetched here with ``pip download``)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from baton.deploy.lock import lock, pins, report_hashes
from baton.errors import BadInput, Unavailable

ENTRY = re.compile(r"^([a-z0-9-]+)==(\S+)((?: \\\n    --hash=sha256:[0-9a-f]{64})+)$", re.M)


def entries(text: str) -> dict[str, tuple[str, list[str]]]:
    return {m[1]: (m[2], re.findall(r"sha256:([0-9a-f]{64})", m[3])) for m in ENTRY.finditer(text)}


def test_every_pin_has_the_hash_of_the_file_pip_downloads(wheel: Path, tmp_path: Path) -> None:
    text = lock(wheel, "3.11")
    found = entries(text)
    pinned = dict(pins())
    assert set(found) == {"modelbaton", *pinned}
    assert text.count("==") == len(found)  # nothing pinned without its hashes
    assert found["modelbaton"][1] == [hashlib.sha256(wheel.read_bytes()).hexdigest()]
    assert all(found[name][0] == version for name, version in pinned.items())
    # a compiled distribution has a wheel per architecture, a pure-Python one a single file
    assert len(found["numpy"][1]) == 2 and len(found["pyyaml"][1]) == 2
    assert len(found["mdurl"][1]) == 1
    got = tmp_path / "got"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(got), f"mdurl=={pinned['mdurl']}"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (file,) = got.iterdir()
    assert hashlib.sha256(file.read_bytes()).hexdigest() in found["mdurl"][1]


def test_a_wheel_that_is_not_batons_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other-1.0-py3-none-any.whl"
    other.write_bytes(b"")
    with pytest.raises(BadInput, match="a other wheel; the image installs modelbaton"):
        lock(other, "3.11")
    with pytest.raises(BadInput, match="not a wheel file name"):
        lock(tmp_path / "modelbaton.zip", "3.11")


def test_a_report_whose_versions_are_not_the_pins_is_refused(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    item = {"metadata": {"name": "MDURL", "version": "0.1.2"},
            "download_info": {"archive_info": {"hash": "sha256=" + "a" * 64}}}  # fmt: skip
    report.write_text(json.dumps({"install": [item]}))
    assert report_hashes(report, {"mdurl": "0.1.2"}) == [("mdurl", "a" * 64)]
    with pytest.raises(Unavailable, match="names mdurl 0.1.2, not the pin"):
        report_hashes(report, {"mdurl": "0.1.3"})
    item["download_info"] = {"archive_info": {}}
    report.write_text(json.dumps({"install": [item]}))
    with pytest.raises(Unavailable, match="without sha256"):
        report_hashes(report, {"mdurl": "0.1.2"})
