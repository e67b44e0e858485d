"""`workbench demo` end to end on a small sample province (a few reports, to keep the test short)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from workbench import workspace

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_every_step_and_says_where_to_look(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.demo", "--out", str(out), "--persons", "600", "--jobs", "2",
         "--no-progress", "--regions", "620000,620100,620102"],
        capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    for step in ("synth", "templates", "intake", "check", "report"):
        assert f"（{step}）" in text, step
    assert "完成。查看结果" in text
    assert f"workbench dashboard --workspace {out / 'workspace.duckdb'}" in text
    assert "make dashboard" in text
    # every output the summary points at exists
    assert (out / "reports" / "index.html").exists()
    assert list((out / "templates").glob("*.xlsx"))
    m = json.loads((out / "reports" / "manifest.json").read_text(encoding="utf-8"))
    assert len(m["reports"]) == 3 and not m["failed"]
    # the findings workbook holds the run's findings, masked
    with workspace.reader(out / "workspace.duckdb") as con:
        n = con.execute("SELECT count(*) FROM findings WHERE run_id = (SELECT max(run_id) FROM finding_runs)"
                        ).fetchone()[0]
        loaded = con.execute("SELECT count(*) FROM staff").fetchone()[0]
    assert loaded > 0 and n > 0
    wb = openpyxl.load_workbook(out / "问题清单.xlsx")
    assert wb.worksheets[0].max_row - 1 == n
    assert f"共发现问题 {n} 条" in text
    # a re-run starts from a clean workspace and gives the same findings
    again = subprocess.run(
        [sys.executable, "-m", "workbench.demo", "--out", str(out), "--persons", "600", "--jobs", "2",
         "--no-progress", "--regions", "620102"],
        capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert f"共发现问题 {n} 条" in again.stdout
