"""notebooks/10-intake.ipynb: thin, parameterised, and run with Papermill on the sample province."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from workbench import contract, workspace

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "10-intake.ipynb"


def test_notebook_is_thin():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for c in code:
        assert c.get("outputs") == [] and c.get("execution_count") is None, "outputs must not be committed"
        lines = c.source.splitlines()
        assert not any(line.lstrip().startswith(("def ", "class ")) for line in lines)
    assert {"source", "workspace"} <= {line.split("=")[0].strip() for line in code[0].source.splitlines()}


def _outputs(cell) -> tuple[str, list[dict]]:
    text = "".join(o.get("data", {}).get("text/plain", "") if o.output_type != "stream" else o.text
                   for o in cell.outputs)
    return text, [o.get("data", {}) for o in cell.outputs]


def _cell(nb, needle: str):
    hits = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(hits) == 1, needle
    return hits[0]


def _table(text: str, ncols: int) -> list[list[str]]:
    """Rows of a pandas text/plain rendering (index first), keeping rows with ncols values."""
    rows = [line.split() for line in text.splitlines()[1:]]
    return [r[1:] for r in rows if len(r) == ncols + 1]


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(f"workbench.{m}") for m in ("synth", "intake")),
                    reason="needs workbench.synth and workbench.intake")
def test_intake_notebook_runs(sample_dir, tmp_path):
    import papermill as pm

    ws = tmp_path / "ws.duckdb"
    out = tmp_path / "10-intake.out.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(ROOT), progress_bar=False,
                        parameters={"source": str(sample_dir / "inputs"), "workspace": str(ws)})
    nb = nbformat.read(out, as_version=4)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]

    con = workspace.reader(ws)
    try:
        counts = workspace.row_counts(con)
        rejects = dict(con.execute('SELECT "table", count(*) FROM rejects GROUP BY ALL').fetchall())
        by_reason = dict(con.execute("SELECT reason, count(*) FROM rejects GROUP BY ALL").fetchall())
        staff_ws = con.execute("SELECT count(*) FROM staff").fetchone()[0]
    finally:
        con.close()
    assert staff_ws > 1000 and sum(rejects.values()) > 0  # the sample really loaded, and has planted rejects

    # loaded counts shown == the workspace's
    text, _ = _outputs(_cell(nb, "overview.loaded_counts(con)"))
    shown = {r[0]: (int(r[1]), int(r[2])) for r in _table(text, 4)}
    expected = {s.name: (counts[s.table], int(rejects.get(s.table, 0))) for s in contract.SHEETS
                if s is not contract.ONSITE}
    assert shown == expected

    # the intake summary printed by the notebook adds up to the same rows
    text, _ = _outputs(_cell(nb, "intake.intake("))
    assert text.strip()

    # rejects by reason: every reason with its count
    text, _ = _outputs(_cell(nb, "overview.rejects_by_reason(con)"))
    shown_total = sum(int(r[-1]) for r in (line.split() for line in text.splitlines()[1:])
                      if r and r[-1].isdigit() and r[0].isdigit())
    assert shown_total == sum(by_reason.values())
    for reason in by_reason:
        assert reason.split()[0][:10] in text

    # rows per region: a plotly figure with one trace per sheet, summing to the unit-attributed rows
    _, data = _outputs(_cell(nb, "overview.rows_per_region_figure(con)"))
    figs = [d["application/vnd.plotly.v1+json"] for d in data if "application/vnd.plotly.v1+json" in d]
    assert figs, "the figure must be rendered"
    traces = {t["name"]: t for t in figs[0]["data"]}
    assert contract.STAFF.name in traces and contract.ORGS.name in traces
    assert len(traces[contract.STAFF.name]["x"]) == 14  # Gansu's 14 cities
    text, _ = _outputs(_cell(nb, "overview.rows_per_region(con)"))
    assert "兰州市" in text
    json.dumps(figs[0])  # plain JSON, nothing that needs a CDN
