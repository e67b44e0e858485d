"""End to end on the sample province: plan → inspectors fill the workbook (openpyxl) → intake → evaluation."""

from __future__ import annotations

import importlib.util
import shutil

import duckdb
import openpyxl
import pandas as pd
import pytest

from workbench import cli, contract, sampling, sampling_cli, workspace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(importlib.util.find_spec(f"workbench.{m}") for m in ("synth", "intake")),
                       reason="needs workbench.synth and workbench.intake"),
]


def fill(book, truth: pd.DataFrame, persons: pd.DataFrame, leave_blank: str) -> dict[int, str]:
    """Inspectors' answers: 查无此人 for planted ghosts, 不在岗 for planted deceased, else 在岗; the team
    ``leave_blank`` leaves its last row empty. Returns sample_no → the result written."""
    ghosts = set(truth.loc[truth["rule_id"] == "PAY_GHOST", "id_number"])
    dead = set(truth.loc[truth["rule_id"] == "PER_DECEASED", "id_number"])
    by_no = persons.set_index("sample_no")["id_number"]
    header = {c.name: c.header for c in contract.ONSITE.columns}
    wb = openpyxl.load_workbook(book)
    written = {}
    for ws in wb.worksheets:
        cols = [c.value for c in ws[1]]
        if cols != [c.header for c in contract.ONSITE.columns]:
            continue
        no_col, res_col = cols.index(header["sample_no"]) + 1, cols.index(header["onsite_result"]) + 1
        last = ws.max_row
        for r in range(2, last + 1):
            no = int(ws.cell(r, no_col).value)
            if ws.title == leave_blank and r == last:
                continue
            pid = by_no[no]
            result = "查无此人" if pid in ghosts else "不在岗" if pid in dead else "在岗"
            ws.cell(r, res_col).value = result
            written[no] = result
    wb.save(book)
    return written


def test_round_trip_on_the_sample_province(sample_ws, sample_dir, tmp_path, capsys):
    from workbench import intake

    ws = tmp_path / "ws.duckdb"
    shutil.copy(sample_ws, ws)
    res = sampling_cli.make_plan(ws, 20140331, tmp_path / "out", force_critical=True)
    plan = res["plan"]
    # ratio ≥ 40 % in every stratum of both universes
    per = sampling.strata_summary(plan.units)
    assert (per["take"] >= 0.4 * per["n_stratum"]).all() and (per["take"] >= 1).all()
    assert set(per["universe"]) == {"county", "provincial"}
    # every planted critical person of a picked unit is to be verified
    con = workspace.reader(ws)
    try:
        crit = sampling.latest_findings(con).query("severity == 'critical' and id_number.notna()")
        stored = con.execute("SELECT count(*) FROM sample_persons").fetchone()[0]
    finally:
        con.close()
    assert stored == len(plan.persons)
    chosen = set(zip(plan.persons["org_code"], plan.persons["id_number"], strict=True))
    county_units = set(plan.picked.query("universe == 'county'")["unit_code"])
    planted = crit[crit["region_code"].isin(county_units)]
    assert len(planted) > 0
    assert set(zip(planted["org_code"], planted["id_number"], strict=True)) <= chosen

    truth = pd.read_csv(sample_dir / "truth.csv", dtype=str)
    book = res["workbooks"]["onsite"]
    blank_team = plan.persons["team_name"].iloc[-1]
    written = fill(book, truth, plan.persons, blank_team)
    summary = intake.intake([book], ws)
    team_rows = summary[summary["sheet"].isin(set(plan.persons["team_name"]))]
    assert int(team_rows["loaded"].sum()) == len(plan.persons)
    assert int(team_rows["rejected"].sum()) == 0

    assert cli.main(["sample", "--workspace", str(ws), "--evaluate"]) == 0
    printed = capsys.readouterr().out
    assert contract.ALL_UNITS in printed and contract.ACCEPTANCE_VERDICTS["incomplete"] in printed
    con = duckdb.connect(str(ws), read_only=True)
    try:
        acc = con.execute("SELECT * FROM sample_acceptance").df().set_index("unit_code")
    finally:
        con.close()
    p = plan.persons.assign(result=plan.persons["sample_no"].map(written))
    p["dev"] = p["result"].isin(contract.ONSITE_DEVIATIONS)
    for unit, g in p.groupby("unit_code"):
        row = acc.loc[unit]
        rnd, cr = g[g["stratum"] == "random"], g[g["stratum"] == "critical"]
        assert row["checked"] == rnd["result"].notna().sum()
        assert row["deviations"] == rnd["dev"].sum()
        assert row["critical_deviations"] == cr["dev"].sum()
        complete = g["result"].notna().all()
        assert (row["verdict"] == contract.ACCEPTANCE_VERDICTS["incomplete"]) == (not complete)
    total = acc.loc[contract.ALL_UNITS]
    assert total["deviations"] == p.loc[p["stratum"] == "random", "dev"].sum()
    assert total["critical_deviations"] == p.loc[p["stratum"] == "critical", "dev"].sum() > 0
