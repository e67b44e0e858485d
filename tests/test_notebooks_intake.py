"""notebooks/10-intake.ipynb: thin, parameterised, and run with Papermill on the sample province."""

from __future__ import annotations

import base64
import html as html_lib
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from workbench import contract, workspace

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "10-intake.ipynb"


def _outputs(cell) -> tuple[str, list[dict]]:
    text = "".join(o.get("data", {}).get("text/plain", "") if o.output_type != "stream" else o.text
                   for o in cell.outputs)
    return text, [o.get("data", {}) for o in cell.outputs]


def _cell(nb, needle: str):
    hits = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(hits) == 1, needle
    return hits[0]


def _html_table(cell) -> list[dict[str, str]]:
    """The DataFrame a cell displayed, read back from its text/html (header row -> dicts)."""
    html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
    rows = [[html_lib.unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)]
    assert rows, "the cell must display a table"
    head = rows[0]
    return [dict(zip(head, r, strict=True)) for r in rows[1:] if len(r) == len(head)]


def _values(arr) -> list:
    """A plotly JSON array: a list, or plotly's typed-array form {"dtype", "bdata"} (base64)."""
    if isinstance(arr, dict):
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"])).tolist()
    return list(arr)


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
        by_sheet_column = dict(con.execute(
            """SELECT sheet || '/' || "column", count(*) FROM rejects GROUP BY ALL""").fetchall())
        by_region = con.execute("SELECT count(DISTINCT coalesce(region_code, '')) FROM rejects").fetchone()[0]
    finally:
        con.close()
    assert counts["staff"] > 1000 and sum(rejects.values()) > 0  # the sample really loaded, with planted rejects
    intake_sheets = [s for s in contract.SHEETS if s is not contract.ONSITE]

    # this run's totals: rows loaded and rejected per sheet == what is in the workspace (fresh workspace)
    totals = {r["工作表"]: r for r in _html_table(_cell(nb, "intake.intake("))}
    for s in intake_sheets:
        if counts[s.table]:
            assert int(totals[s.name]["导入行数"]) == counts[s.table], s.name
            assert int(totals[s.name]["拒收行数"]) == rejects.get(s.table, 0), s.name

    # rows now in the workspace, per sheet
    shown = {r["工作表"]: (int(r["已导入行数"]), int(r["拒收行数"]))
             for r in _html_table(_cell(nb, "overview.loaded_counts(con)"))}
    assert shown == {s.name: (counts[s.table], rejects.get(s.table, 0)) for s in intake_sheets}

    # rejects by reason: grouped reasons add up per sheet and column; values of the rows are blanked
    reasons = _html_table(_cell(nb, "overview.rejects_by_reason(con)"))
    got: dict[str, int] = {}
    for r in reasons:
        key = r["工作表"] + "/" + r["列"]
        got[key] = got.get(key, 0) + int(r["拒收行数"])
        assert r["原因"] and r["示例"]
    assert got == by_sheet_column
    shown_regions = _html_table(_cell(nb, "overview.rejects_by_region(con)"))
    assert sum(int(r["拒收行数"]) for r in shown_regions) == sum(rejects.values())
    assert len(shown_regions) <= by_region  # unknown or missing regions are attached to a known one

    # rows per region: table and a plotly figure with one trace per sheet over Gansu's 14 cities
    regions_shown = _html_table(_cell(nb, "overview.rows_per_region(con)"))
    assert regions_shown[0]["地区"] == "甘肃省" and len(regions_shown) == 15
    assert sum(int(r["人员"]) for r in regions_shown[1:]) <= int(regions_shown[0]["人员"])
    _, data = _outputs(_cell(nb, "overview.rows_per_region_figure(con)"))
    figs = [d["application/vnd.plotly.v1+json"] for d in data if "application/vnd.plotly.v1+json" in d]
    assert figs, "the figure must be rendered"
    traces = {tr["name"]: tr for tr in figs[0]["data"]}
    assert contract.STAFF.name in traces and contract.ORGS.name in traces
    assert len(traces[contract.STAFF.name]["x"]) == 14
    staff_by_city = {r["地区"]: int(r["人员"]) for r in regions_shown[1:]}
    ys = _values(traces[contract.STAFF.name]["y"])
    assert dict(zip(traces[contract.STAFF.name]["x"], ys, strict=True)) == staff_by_city
    json.dumps(figs[0])  # plain JSON, nothing that needs a CDN
