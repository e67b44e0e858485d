"""The Excel intake templates: headers, drop-downs, text format, instructions, and a filled template loads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import range_boundaries

from workbench import contract, ids, templates

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_FILES = sorted([f"{s.name}.xlsx" for s in contract.SHEETS if s is not contract.ONSITE] + ["填报模板.xlsx"])


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    templates.write_templates(out)
    return out


def validation_lists(wb: openpyxl.Workbook, ws) -> dict[str, list[str]]:
    """header -> the values of the list its drop-down points at (resolved in the lists sheet)."""
    headers = [c.value for c in ws[1]]
    out = {}
    for dv in ws.data_validations.dataValidation:
        if dv.type != "list":
            continue
        sheet_ref, cells = dv.formula1.lstrip("=").rsplit("!", 1)
        src = wb[sheet_ref.strip("'")]
        values = [c.value for row in src[cells.replace("$", "")] for c in row]
        for rng in str(dv.sqref).split():
            min_col, min_row, max_col, max_row = range_boundaries(rng)
            assert min_row == 2 and max_row >= 1000, rng  # covers the rows people fill in
            for j in range(min_col, max_col + 1):
                out[headers[j - 1]] = values
    return out


def other_validations(ws) -> dict[str, tuple]:
    """header -> (type, operator, formula1, error style) of the non-list validations."""
    headers = [c.value for c in ws[1]]
    out = {}
    for dv in ws.data_validations.dataValidation:
        if dv.type == "list":
            continue
        for rng in str(dv.sqref).split():
            min_col, min_row, max_col, _ = range_boundaries(rng)
            assert min_row == 2
            for j in range(min_col, max_col + 1):
                out[headers[j - 1]] = (dv.type, dv.operator, dv.formula1, dv.errorStyle)
    return out


def text_columns(ws) -> set[str]:
    headers = [c.value for c in ws[1]]
    cols = set()
    for dim in ws.column_dimensions.values():
        if dim.number_format == "@":
            for j in range(dim.min, dim.max + 1):
                if j <= len(headers):
                    cols.add(headers[j - 1])
    return cols


def test_files(generated):
    assert sorted(p.name for p in generated.glob("*.xlsx")) == EXPECTED_FILES


@pytest.mark.parametrize("sheet", [s for s in contract.SHEETS if s is not contract.ONSITE], ids=lambda s: s.table)
def test_per_sheet_template(generated, sheet):
    wb = openpyxl.load_workbook(generated / f"{sheet.name}.xlsx")
    assert wb.sheetnames[0] == sheet.name
    assert {"填报说明", "字段说明"} <= set(wb.sheetnames)
    ws = wb[sheet.name]
    assert [c.value for c in ws[1]] == [c.header for c in sheet.columns]
    assert ws.max_row == 1  # no example rows that would be loaded as data
    assert ws.freeze_panes == "A2"
    assert validation_lists(wb, ws) == {c.header: list(c.codes) for c in sheet.columns if c.codes}
    checks = other_validations(ws)
    for c in sheet.columns:
        if c.type == contract.INT:
            assert checks[c.header] == ("whole", "greaterThanOrEqual", "0", None), c.header
        elif c.type in (contract.ID, contract.USCC):
            assert checks[c.header] == ("textLength", "equal", "18", "warning"), c.header
        else:
            assert c.header not in checks or c.type in (contract.REGION, contract.MONTH)
    text = text_columns(ws)
    for c in sheet.columns:
        if c.type in (contract.ID, contract.USCC, contract.REGION, contract.MONTH):
            assert c.header in text, c.header
        if c.type in (contract.DATE, contract.INT, contract.MONEY):
            assert c.header not in text, c.header
    for j, c in enumerate(sheet.columns, start=1):  # every header explains itself
        comment = ws.cell(1, j).comment
        assert comment is not None and ("必填" if c.required else "可留空") in comment.text
    fields = wb["字段说明"]
    rows = [[c.value for c in r] for r in fields.iter_rows(min_row=2)]
    head = [c.value for c in fields[1]]
    table = [dict(zip(head, r, strict=True)) for r in rows]
    assert [(r["工作表"], r["列名"]) for r in table] == [(sheet.name, c.header) for c in sheet.columns]
    for r, c in zip(table, sheet.columns, strict=True):
        assert r["是否必填"] == ("是" if c.required else "否")
        assert (r["可选值"] or "") == "、".join(c.codes)
        assert r["示例"] is not None or c.type == contract.TEXT


def test_combined_template(generated):
    wb = openpyxl.load_workbook(generated / "填报模板.xlsx")
    data_sheets = [s.name for s in contract.SHEETS if s is not contract.ONSITE]
    assert wb.sheetnames[: len(data_sheets)] == data_sheets
    assert contract.ONSITE.name not in wb.sheetnames
    for name in data_sheets:
        sheet = contract.BY_NAME[name]
        assert [c.value for c in wb[name][1]] == [c.header for c in sheet.columns]
        assert validation_lists(wb, wb[name]) == {c.header: list(c.codes) for c in sheet.columns if c.codes}
    rules = " ".join(str(c.value) for row in wb["填报说明"].iter_rows(min_row=2) for c in row if c.value)
    for phrase in ("文本格式", "15位", "2014年3月31日", "20140331", "下拉列表"):
        assert phrase in rules


def test_examples_are_valid():
    for sheet in templates.TEMPLATE_SHEETS:
        for c in sheet.columns:
            v = templates.example(c)
            if c.type == contract.ID:
                assert ids.validate_ids([v], "2014-03-31").iloc[0]
            elif c.type == contract.USCC:
                assert ids.validate_uscc([v]).iloc[0]
            elif c.codes:
                assert v in c.codes


def test_committed_templates_are_current(generated):
    """templates/ in the repository is what the contract generates today (bytes are reproducible)."""
    committed = ROOT / "templates"
    assert sorted(p.name for p in committed.glob("*.xlsx")) == EXPECTED_FILES
    for name in EXPECTED_FILES:
        assert (committed / name).read_bytes() == (generated / name).read_bytes(), name


def test_cli(tmp_path):
    from workbench import cli

    assert cli.main(["templates", "--out", str(tmp_path / "t")]) == 0
    assert sorted(p.name for p in (tmp_path / "t").glob("*.xlsx")) == EXPECTED_FILES


# ------------------------------------------------------------------------------------------ filled template
def _uscc(body: str) -> str:
    return body + ids.uscc_check_char(body)


def _id(first17: str) -> str:
    return first17 + ids.id_check_char(first17)


def test_filled_template_loads(generated, tmp_path):
    intake = pytest.importorskip("workbench.intake")
    from workbench import workspace

    org1, org2 = _uscc("11620102MB0000001"), _uscc("12620102MB0000002")
    p1, p2, p3 = _id("62010219800101001"), _id("62010219851231002"), _id("62010219700615003")
    assert p2.endswith("X")  # entered below with a lower-case x
    rows = {
        "机构": [
            [org1, "城关区某局", "620102", "政府机关", None, "正科级", None, "城编发〔2010〕1号", "财政全额拨款",
             3, 3, 10, 0, 0, 2, 1, 2],
            [org2, "城关区某中心", "620102", "事业单位", "公益一类", "股级", org1, "城编发〔2011〕2号",
             "财政差额拨款", 0, 0, 0, 0, 5, 0, 1, 0],
        ],
        "人员": [
            [p1, "张三", "男", dt.date(1980, 1, 1), org1, "行政编制", "公务员", "局长", "正职", dt.date(2005, 3, 1)],
            [p2.lower(), "李四", None, "1985/12/31", org1, "行政编制", "公务员", "科员", None, "2010年7月1日"],
            [f" {p3} ", "王五", "女", None, org2, "事业编制", "专业技术人员", None, "无", None],
        ],
        "编外人员": [[_id("62010219900202004"), "赵六", org1, "劳务派遣", "自筹", "2013-01-01"]],
        "财政发放": [[p1, "张三", org1, "6228480000000000001", "2014-03", 4520.5]],
        "公安核查": [[p1, "张三", "一致"], [p2, "李四", "姓名不一致"]],
        "人社信息": [[p1, "张三", org1, "在职"]],
        "组织部门": [[p1, "张三", org1, "正职"]],
        "2013统计": [[org1, "行政编制", 10, 2]],
    }
    wb = openpyxl.load_workbook(generated / "填报模板.xlsx")
    for name, data in rows.items():
        ws = wb[name]
        for i, values in enumerate(data, start=2):
            for j, v in enumerate(values, start=1):
                if v is not None:
                    ws.cell(i, j, v)
    filled = tmp_path / "in" / "城关区.xlsx"
    filled.parent.mkdir()
    wb.save(filled)

    ws_path = tmp_path / "ws.duckdb"
    intake.intake([filled.parent], ws_path)
    con = workspace.connect(ws_path, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
        for name, data in rows.items():
            table = contract.BY_NAME[name].table
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == len(data), name
        got = con.execute("SELECT id_number, leader_level, birth_date, entry_date FROM staff").fetchall()
        assert sorted(got) == sorted([(p1, "正职", dt.date(1980, 1, 1), dt.date(2005, 3, 1)),
                                      (p2, "无", dt.date(1985, 12, 31), dt.date(2010, 7, 1)), (p3, "无", None, None)])
    finally:
        con.close()

