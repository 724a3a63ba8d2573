"""promtool backfill of OpenMetrics files into TSDB blocks, and its one-line failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.errors import BadInput, Unavailable
from testkit.backfill import backfill, serve_tsdb
from testkit.synthetic import Spec, SyntheticFleet, write_openmetrics
from tests.monitor.conftest import need

END = 1_700_006_400.0


def test_each_file_becomes_a_block(tmp_path: Path) -> None:
    promtool = need("promtool")
    fleet = SyntheticFleet((Spec("a", "m", replicas=2),), end=END, days=0.25, interval_s=300)
    files = list(write_openmetrics(fleet, tmp_path / "om"))
    assert backfill(files, tmp_path / "tsdb", promtool, delete=True) == len(files) == 4
    assert not any(f.exists() for f in files)
    metas = [json.loads(p.read_text()) for p in (tmp_path / "tsdb").glob("*/meta.json")]
    assert len(metas) == 4
    # two replicas x (1 counter + 19 buckets + count + sum + info + cpu + memory) series
    assert {m["stats"]["numSeries"] for m in metas} == {2 * 25}


def test_a_malformed_file_is_one_line_naming_it(tmp_path: Path) -> None:
    promtool = need("promtool")
    bad = tmp_path / "bad.om"
    bad.write_text('# TYPE x gauge\nx{a="1"} not-a-number 1700000000\n# EOF\n')
    with pytest.raises(BadInput) as caught:
        backfill([bad], tmp_path / "tsdb", promtool)
    message = caught.value.message
    assert message.startswith(f"promtool could not load {bad}: ")
    assert "\n" not in message
    assert bad.exists()


def test_a_prometheus_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    need("prometheus")
    not_a_folder = tmp_path / "tsdb"
    not_a_folder.write_text("a file where the TSDB folder should be")
    with pytest.raises(Unavailable, match=r"Prometheus did not start on http://127\.0\.0\.1:\d+"):
        serve_tsdb(not_a_folder, tmp_path / "work", ready_s=30)
