"""Intake of the generated sample province: every valid row loads, exactly the planted rows are rejected."""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from workbench import contract, intake


def test_sample_loads_valid_rows_and_rejects_exactly_the_planted_ones(sample_dir, tmp_path):
    ws = tmp_path / "ws.duckdb"
    summary = intake.intake([sample_dir / "inputs"], ws)
    assert (summary["status"] == intake.LOADED).all(), summary[summary["status"] != intake.LOADED].to_string()
    expected = pd.read_csv(sample_dir / "expected_rejects.csv", dtype=str)
    expected["row"] = expected["row"].astype(int)
    con = duckdb.connect(str(ws), read_only=True)
    try:
        got = con.execute('SELECT DISTINCT file, sheet, "row", "column" FROM rejects').df()
        loaded = {s.name: con.execute(f'SELECT count(*) FROM "{s.table}"').fetchone()[0] for s in contract.SHEETS}
    finally:
        con.close()
    got["row"] = got["row"].astype(int)
    m = got.merge(expected[["file", "sheet", "row", "column"]], how="outer", indicator=True)
    assert m[m["_merge"] != "both"].empty, m[m["_merge"] != "both"].to_string()
    # every valid row loaded: rows in the files minus the planted rejects, sheet by sheet
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    per_sheet_rejects = expected.drop_duplicates(["file", "sheet", "row"]).groupby("sheet").size()
    for sheet, rows in manifest["rows_per_sheet"].items():
        assert loaded[sheet] == rows - per_sheet_rejects.get(sheet, 0), sheet
    by_sheet = summary.groupby("sheet")[["read", "loaded", "rejected"]].sum()
    assert by_sheet["read"].to_dict() == manifest["rows_per_sheet"]
    # loading the same folder again changes nothing
    again = intake.intake([sample_dir / "inputs"], ws)
    assert (again["status"] == intake.UNCHANGED).all()
