"""bench.report.median: several windows of one contender as one, nothing hidden."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench.report import Measurement, median

ROOT = Path(__file__).resolve().parents[2]


def window(cpu: float, p50: float, *, errors: dict[str, int] | None = None, rss: float = 90.0) -> Measurement:
    return Measurement(
        target="gateway",
        requests=100,
        errors=errors or {},
        elapsed_s=5.0,
        rps=20.0,
        p50_ms=p50,
        p99_ms=p50 * 2,
        ttfb_p50_ms=None,
        ttfb_p99_ms=None,
        cpu_ms_per_request=cpu,
        cpu_cores=0.5,
        rss_peak_mb=rss,
        header_overhead_p50_ms=0.1,
        foreign_cores=0.0,
    )


def test_each_figure_is_its_own_median_and_errors_add_up() -> None:
    windows = [window(0.9, 1.0), window(0.3, 3.0, errors={"status 500": 2}, rss=130.0), window(0.5, 2.0)]
    windows[2] = replace(windows[2], foreign_cores=0.4)
    one = median(windows)
    assert (one.cpu_ms_per_request, one.p50_ms, one.p99_ms) == (0.5, 2.0, 4.0)  # not one window's figures
    assert one.requests == 300 and one.elapsed_s == 15.0 and one.errors == {"status 500": 2}
    assert one.rss_peak_mb == 130.0 and one.foreign_cores == 0.4 and one.windows == 3
    assert one.ttfb_p50_ms is None  # none measured
    assert median([windows[0]]) is windows[0]


def test_rounds_measure_every_side_that_many_times(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--rounds", "2", "--only", "json-c1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [row] = json.loads(out.read_text())["rows"]
    assert [row[side]["windows"] for side in ("baseline", "floor", "gateway")] == [2, 2, 2]
    assert row["gateway"]["errors"] == {} and row["gateway"]["requests"] > 0
