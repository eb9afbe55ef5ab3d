"""``python -m bench --smoke`` runs end to end (real fake upstream, real gateway processes) and
produces its table and JSON. Timings are machine-dependent and never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(out.read_text())
    names = [row["scenario"] for row in document["rows"]]
    assert names == [
        "json-c1",
        "json-c16",
        "json-c64",
        "stream-c1",
        "stream-c16",
        "big-c1",
        "streams-50",
        "openai-json-c1",
        "openai-stream-c16",
        "cc-stream-c16",
        "sdk-beta-json-c16",
        "sdk-beta-stream-c16",
        "json-c16-granian",
        "bedrock-json-c1",
        "bedrock-stream-c16",
        "json-c64-w2",
        "json-c16-traced",
        "stream-c16-traced",
    ]
    for row in document["rows"]:
        for side in ("baseline", "gateway"):
            assert row[side]["requests"] > 0, row
            assert row[side]["errors"] == {}, row  # every response was a complete 200
        assert row["gateway"]["header_overhead_p50_ms"] is not None  # x-specgate-overhead-ms was sent
        if "stream" in row["scenario"]:
            assert row["added"]["ttfb_p50_ms"] is not None
        if row["baseline"]["target"] == "direct" and not row["scenario"].startswith(("openai", "bedrock")):
            assert row["floor"]["requests"] > 0 and row["floor"]["errors"] == {}, row  # the floor, same run
            assert "cpu_vs_floor" in row["added"]  # (None when a 0.2 s window saw no CPU tick of the floor)
    by_name = {row["scenario"]: row for row in document["rows"]}
    assert by_name["json-c64-w2"]["gateway"]["target"] == "gateway-w2"
    for name in ("json-c16-traced", "stream-c16-traced"):  # tracing on vs off, gateway against gateway
        assert by_name[name]["baseline"]["target"] == "gateway"
        assert by_name[name]["gateway"]["target"] == "gateway-traced"
        assert by_name[name]["added"]["cpu_ratio"] is not None
    for name in ("bedrock-json-c1", "bedrock-stream-c16"):  # bedrock against anthropic, one gateway
        assert by_name[name]["baseline"]["target"] == "gateway"
        assert by_name[name]["gateway"]["target"] == "gateway-bedrock"
        assert by_name[name]["added"]["cpu_ratio"] is not None
    assert document["gateway_memory"]["idle_rss_mb_at_start"] > 0
    assert (tmp_path / "bench.md").read_text() == document["table"] + "\n"
    assert document["table"] in done.stdout
    assert document["table"].count("\n") == len(names) + 1
