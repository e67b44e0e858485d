"""notebooks/30-sampling.ipynb: thin, parameterised, executed with Papermill on a real workspace."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbench import contract, regions, sampling, workspace

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "30-sampling.ipynb"


def _cell(nb, needle: str):
    hits = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(hits) == 1, needle
    return hits[0]


def _data(cell) -> dict:
    out = {}
    for o in cell.outputs:
        out.update(o.get("data", {}))
    return out


@pytest.mark.slow
def test_sampling_notebook_runs(tmp_path):
    import papermill as pm
    from test_sampling_cli import build_workspace

    ws = build_workspace(tmp_path / "ws.duckdb", seed=4)
    out = tmp_path / "30-sampling.out.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(ROOT), progress_bar=False,
                        parameters={"workspace": str(ws), "seed": 99, "ratio": 0.5})
    nb = nbformat.read(out, as_version=4)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]

    con = workspace.reader(ws)
    try:
        plan = sampling.draw_plan(con, 99, 0.5, force_critical=True)
    finally:
        con.close()
    # the strata table: one row per city stratum and the provincial stratum, each taking ceil(0.5 × N) or more
    html = _data(_cell(nb, "strata_summary"))["text/html"]
    for name in regions.regions().query("level == 'city'")["name"]:
        assert name in html
    assert contract.SAMPLE_UNIVERSES["provincial"] in html
    # every pick is listed with its reason
    html = _data(_cell(nb, "sampling.UNIT_COLUMNS"))["text/html"]
    for name, reason in zip(plan.picked["unit_name"], plan.picked["reason"], strict=True):
        assert name in html and reason in html
    # the rotation: a table and a Sankey with one link per city team, never to itself
    fig = _data(_cell(nb, "rotation_figure"))["application/vnd.plotly.v1+json"]
    link = fig["data"][0]["link"]
    assert len(link["source"]) == 14
    assert all(t - 14 != s for s, t in zip(link["source"], link["target"], strict=True))
    # the person-sample sizes: the published 95 %/5 %/0 % → 59 shows in the reference table
    html = _data(_cell(nb, "size_table"))["text/html"]
    assert "<td>59</td>" in html and "<td>93</td>" in html
    html = _data(_cell(nb, "sampling.SIZE_COLUMNS"))["text/html"]
    assert contract.SAMPLE_HEADERS["n_random"] in html and "超几何分布" in html
