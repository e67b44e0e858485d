"""`workbench check`: summary, stored run, export column order, masking, formula safety."""

from __future__ import annotations

import csv

import openpyxl
import pandas as pd
import pytest
from test_rules import UNIT_A, add, org, person, pid, uscc

from workbench import cli, contract, rules
from workbench import workspace as wsp


@pytest.fixture
def ws(tmp_path):
    path = tmp_path / "ws.duckdb"
    with wsp.writer(path) as con:
        add(con, "orgs", org(UNIT_A, approval_doc=None, quota_admin=1))
        add(con, "staff", person(pid(seq=1), UNIT_A), person(pid(seq=2), UNIT_A), person(pid(seq=3), "=1+2"),
            person(pid(seq=4), "@SUM(A1)"))
    return path


def test_check_prints_summary_and_not_run_rules(ws, capsys):
    assert cli.main(["check", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    for header in ("规则", "名称", "严重程度", "问题数", "涉及单位数"):
        assert header in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("EST_OVER"))
    assert "超编" in line and "高" in line and line.split()[3:5] == ["1", "1"]
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("HR_MISSING"))
    assert "未运行" in line and "人社信息" in line
    with wsp.reader(ws) as con:
        assert rules.latest_run_id(con) == 1
        assert set(rules.latest_findings(con)["rule_id"]) == {"ORG_UNAPPROVED", "ORG_UNKNOWN", "EST_OVER"}


def test_check_selected_rules_only(ws, capsys):
    assert cli.main(["check", "--workspace", str(ws), "--rules", "EST_OVER,org_unapproved"]) == 0
    with wsp.reader(ws) as con:
        assert rules.latest_status(con)["rule_id"].tolist() == ["ORG_UNAPPROVED", "EST_OVER"]
    assert cli.main(["check", "--workspace", str(ws), "--rules", "EST_OVER,NOPE"]) == 2
    assert "未知的规则编号：NOPE" in capsys.readouterr().err


def test_csv_export_columns_order_masking_and_formula_safety(ws, tmp_path, capsys):
    out = tmp_path / "findings.csv"
    assert cli.main(["check", "--workspace", str(ws), "--export", str(out)]) == 0
    assert capsys.readouterr().err == ""
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [contract.FINDING_HEADERS[c] for c in contract.FINDING_COLUMNS]
    by_org = {r[3]: r for r in rows[1:]}
    assert "'=1+2" in by_org and "'@SUM(A1)" in by_org  # never a live formula
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows[1:] for cell in r)
    ids_out = [r[4] for r in rows[1:] if r[4]]
    assert ids_out == [] or all("*" in x for x in ids_out)


def test_xlsx_export_full_pii_warns_and_keeps_text(ws, tmp_path, capsys):
    with wsp.writer(ws) as con:
        add(con, "staff", person(pid(seq=1), UNIT_A))  # duplicated -> PER_DUPLICATE carries the ID
    out = tmp_path / "findings.xlsx"
    assert cli.main(["check", "--workspace", str(ws), "--export", str(out), "--pii", "full"]) == 0
    assert "警告" in capsys.readouterr().err
    sheet = openpyxl.load_workbook(out).worksheets[0]
    values = list(sheet.values)
    assert list(values[0]) == [contract.FINDING_HEADERS[c] for c in contract.FINDING_COLUMNS]
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row if c.value is not None]
    assert all(c.data_type == "s" for c in cells)  # strings only: no formulas, IDs not numbers
    frame = pd.DataFrame(values[1:], columns=values[0])
    assert pid(seq=1) in set(frame[contract.FINDING_HEADERS["id_number"]])
    assert "=1+2" in set(frame[contract.FINDING_HEADERS["org_code"]])


def test_xlsx_export_masks_ids_by_default(ws, tmp_path):
    with wsp.writer(ws) as con:
        add(con, "staff", person(pid(seq=1), UNIT_A))
    out = tmp_path / "findings.xlsx"
    assert cli.main(["check", "--workspace", str(ws), "--export", str(out)]) == 0
    values = list(openpyxl.load_workbook(out).worksheets[0].values)
    col = values[0].index(contract.FINDING_HEADERS["id_number"])
    shown = {row[col] for row in values[1:] if row[col]}
    assert shown == {pid(seq=1)[:6] + "********" + pid(seq=1)[-4:]}


def test_bad_export_suffix(ws, tmp_path, capsys):
    assert cli.main(["check", "--workspace", str(ws), "--export", str(tmp_path / "x.txt")]) == 2
    assert "不支持的导出格式" in capsys.readouterr().err
    assert uscc(UNIT_A)


def test_missing_workspace_is_not_created(tmp_path, capsys):
    path = tmp_path / "nope.duckdb"
    assert cli.main(["check", "--workspace", str(path)]) == 2
    assert "工作区不存在" in capsys.readouterr().err and not path.exists()
