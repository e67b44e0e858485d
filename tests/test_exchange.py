"""Joint-review exchange: request workbooks per department, and the round trip back through intake."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import range_boundaries

from workbench import cli, contract, exchange, ids, workspace


def _uscc(body: str) -> str:
    return body + ids.uscc_check_char(body)


def _id(first17: str) -> str:
    return first17 + ids.id_check_char(first17)


ORG_A = _uscc("11620102MB0000001")  # 城关区
ORG_B = _uscc("12620103MB0000002")  # 七里河区
ORG_P = _uscc("11620000MB0000003")  # 省直
ORG_X = _uscc("12620104MB0000004")  # not in 机构: region from the code (620104 西固区)
P = [_id(f"6201021980010100{i}") for i in range(1, 8)]
BAD_ID = "620102198001010000"  # invalid checksum: still asked about

ORGS = pd.DataFrame({
    "org_code": [ORG_A, ORG_B, ORG_P],
    "org_name": ["城关区甲局", "七里河区乙中心", "省丙厅"],
    "region_code": ["620102", "620103", "620000"],
    "org_category": ["政府机关", "事业单位", "政府机关"],
})
STAFF = pd.DataFrame({
    "id_number": [P[0], P[1], P[2], P[2], P[3], BAD_ID, P[6]],
    "name": ["张一", "张二", "张三", "张三", "张四", "张坏", "张七"],
    "org_code": [ORG_A, ORG_A, ORG_A, ORG_B, ORG_P, ORG_B, ORG_X],
    "est_kind": ["行政编制", "行政编制", "行政编制", "事业编制", "行政编制", "事业编制", "事业编制"],
    "staff_class": ["公务员"] * 3 + ["管理人员", "公务员", "管理人员", "管理人员"],
    "leader_level": ["正职", "副职", "无", "正职", None, "无", "副职"],
})
OFFSTAFF = pd.DataFrame({
    "id_number": [P[4], P[1], P[5]],
    "name": ["李五", "别名二", None],
    "org_code": [ORG_B, ORG_B, ORG_P],
    "employment_form": ["劳务派遣", "合同聘用", "临时聘用"],
})


def _insert(con, table: str, frame: pd.DataFrame, file: str) -> None:
    df = frame.assign(_file=file, _sheet=contract.BY_TABLE[table].name, _row=range(2, len(frame) + 2), _load_id=1)
    con.register("_df", df)
    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _df')
    con.unregister("_df")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exchange") / "ws.duckdb"
    with workspace.writer(path) as con:
        _insert(con, "orgs", ORGS, "orgs.xlsx")
        _insert(con, "staff", STAFF, "staff.xlsx")
        _insert(con, "offstaff", OFFSTAFF, "off.xlsx")
    return path


def read_request(path: Path, dept: str) -> tuple[openpyxl.Workbook, pd.DataFrame]:
    sheet = contract.DEPARTMENTS[dept]
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == sheet.name
    rows = list(wb[sheet.name].iter_rows(values_only=True))
    assert list(rows[0]) == [c.header for c in sheet.columns]
    return wb, pd.DataFrame(rows[1:], columns=rows[0])


# ------------------------------------------------------------------------------------------ who is asked
def test_police_request(ws, tmp_path):
    summary = exchange.export(ws, "police", tmp_path)
    assert len(summary) == 1
    wb, df = read_request(Path(summary["file"][0]), "police")
    expected = set(STAFF["id_number"]) | set(OFFSTAFF["id_number"])
    assert sorted(df["公民身份号码"]) == sorted(expected)  # each person once, invalid IDs included
    names = dict(zip(df["公民身份号码"], df["姓名"], strict=True))
    assert names[P[1]] == "张二"  # the roster's name wins over the off-establishment one
    assert names[P[4]] == "李五" and pd.isna(names[P[5]])
    assert df["核查结果"].isna().all()
    ws_ = wb["公安核查"]
    dvs = [dv for dv in ws_.data_validations.dataValidation if dv.type == "list"]
    assert len(dvs) == 1
    sheet_ref, cells = dvs[0].formula1.lstrip("=").rsplit("!", 1)
    listed = [c.value for row in wb[sheet_ref.strip("'")][cells.replace("$", "")] for c in row]
    assert listed == list(contract.POLICE_RESULTS)
    min_col, _, _, max_row = range_boundaries(str(dvs[0].sqref))
    assert min_col == 3 and max_row >= len(df) + 100  # room for added rows
    id_dims = [d for d in ws_.column_dimensions.values() if d.min <= 1 <= d.max]
    assert id_dims and id_dims[0].number_format == "@"
    assert {"填报说明", "字段说明"} <= set(wb.sheetnames)
    text = " ".join(str(c.value) for r in wb["填报说明"].iter_rows() for c in r if c.value)
    assert "核查结果" in text and f"共{len(expected)}条" in text


def test_police_by_region(ws, tmp_path):
    summary = exchange.export(ws, "police", tmp_path, by_region=True)
    assert sorted(summary["region_code"]) == ["620000", "620102", "620103", "620104"]
    per_region = {}
    for r in summary.itertuples():
        assert Path(r.file).name.startswith("联合审核核查请求_公安_" + r.region_code)
        _, df = read_request(Path(r.file), "police")
        per_region[r.region_code] = set(df["公民身份号码"])
        assert len(df) == r.persons
    assert per_region["620102"] == {P[0], P[1], P[2]}
    assert per_region["620103"] == {P[2], BAD_ID, P[4], P[1]}  # P[2] works in two regions: asked in both
    assert per_region["620000"] == {P[3], P[5]}
    assert per_region["620104"] == {P[6]}  # unit not in 机构: region from the code


@pytest.mark.parametrize("dept", ["finance", "hr", "org"])
def test_unit_requests(ws, tmp_path, dept):
    summary = exchange.export(ws, dept, tmp_path)
    _, df = read_request(Path(summary["file"][0]), dept)
    unit = contract.DEPARTMENTS[dept].column("org_code").header
    got = sorted(zip(df["公民身份号码"], df[unit], strict=True))
    if dept == "finance":
        frames = [STAFF, OFFSTAFF]
    elif dept == "hr":
        frames = [STAFF]
    else:
        frames = [STAFF[STAFF["leader_level"].isin(["正职", "副职"])]]
    expected = sorted({(i, o) for f in frames for i, o in zip(f["id_number"], f["org_code"], strict=True)})
    assert got == expected
    filled_by_dept = [c.header for c in contract.DEPARTMENTS[dept].columns
                      if c.name not in ("id_number", "name", "org_code")]
    assert df[filled_by_dept].isna().all().all()


def test_unknown_department(ws, tmp_path):
    with pytest.raises(ValueError, match="未知部门"):
        exchange.export(ws, "tax", tmp_path)


def test_cli_all(ws, tmp_path, capsys):
    rc = cli.main(["exchange", "export", "--dept", "all", "--workspace", str(ws), "--out", str(tmp_path / "o")])
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "o").glob("*.xlsx"))
    assert names == sorted(f"联合审核核查请求_{contract.DEPARTMENT_ZH[d]}.xlsx" for d in contract.DEPARTMENTS)
    assert "安全渠道" in capsys.readouterr().err
    assert cli.main(["exchange", "export", "--dept", "police", "--workspace", str(tmp_path / "none.duckdb"),
                     "--out", str(tmp_path / "o2")]) == 1


# ------------------------------------------------------------------------------------------ round trip
def _fill(path: Path, sheet: str, fill) -> Path:
    """Fill the request like the department would: openpyxl, in place, then save as the return."""
    wb = openpyxl.load_workbook(path)
    ws_ = wb[sheet]
    headers = [c.value for c in ws_[1]]
    fill(ws_, headers)
    out = path.with_name(path.stem + "_回复.xlsx")
    wb.save(out)
    return out


def test_round_trip(ws, tmp_path):
    intake = pytest.importorskip("workbench.intake")
    results = {}

    def police(ws_, headers):
        col = headers.index("核查结果") + 1
        for i, row in enumerate(ws_.iter_rows(min_row=2, max_col=1, values_only=True), start=2):
            if row[0]:
                results[row[0]] = "已死亡" if row[0] == P[3] else "号码不存在" if row[0] == BAD_ID else "一致"
                ws_.cell(i, col, results[row[0]])

    def finance(ws_, headers):
        month, amount, account = (headers.index(h) + 1 for h in ("发放月份", "应发金额", "工资账号"))
        for i in range(2, ws_.max_row + 1):
            if ws_.cell(i, 1).value == P[6]:  # not paid: the department deletes the row
                ws_.delete_rows(i)
                break
        last = max(i for i in range(1, ws_.max_row + 1) if ws_.cell(i, 1).value)
        for i in range(2, last + 1):
            ws_.cell(i, month, "2014-03")
            ws_.cell(i, amount, 4000 + i)
            ws_.cell(i, account, f"62284800000000{i:05d}")
        ghost = _id("62010219750505009")  # paid, on no roster: added by finance
        for j, v in enumerate([ghost, "赵鬼", ORG_A, "6228480000000099999", "2014-03", 5000], start=1):
            ws_.cell(last + 1, j, v)

    def hr(ws_, headers):
        col = headers.index("人员身份") + 1
        for i in range(2, ws_.max_row + 1):
            if ws_.cell(i, 1).value:
                ws_.cell(i, col, "在职")

    def org(ws_, headers):
        col = headers.index("领导职务层次") + 1
        for i in range(2, ws_.max_row + 1):
            if ws_.cell(i, 1).value:
                ws_.cell(i, col, "正职")

    returned = tmp_path / "returned"
    returned.mkdir()
    for dept, fill in {"police": police, "finance": finance, "hr": hr, "org": org}.items():
        summary = exchange.export(ws, dept, tmp_path / "requests")
        out = _fill(Path(summary["file"][0]), contract.DEPARTMENTS[dept].name, fill)
        out.rename(returned / out.name)

    target = tmp_path / "rt.duckdb"
    import shutil

    shutil.copy(ws, target)
    intake.intake([returned], target)
    con = workspace.connect(target, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
        police_rows = dict(con.execute("SELECT id_number, police_result FROM police").fetchall())
        assert police_rows == results and len(results) == len(set(STAFF["id_number"]) | set(OFFSTAFF["id_number"]))
        paid = con.execute("SELECT id_number, org_code, pay_month FROM payroll").fetchall()
        expected_pairs = {(i, o) for f in (STAFF, OFFSTAFF) for i, o in zip(f["id_number"], f["org_code"], strict=True)}
        expected_pairs = {p for p in expected_pairs if p[0] != P[6]} | {(_id("62010219750505009"), ORG_A)}
        assert {(i, o) for i, o, _ in paid} == expected_pairs and len(paid) == len(expected_pairs)
        assert {m for *_, m in paid} == {"2014-03"}
        hr_rows = con.execute("SELECT id_number, org_code, hr_status FROM hr").fetchall()
        assert sorted(hr_rows) == sorted({(i, o, "在职") for i, o in zip(STAFF["id_number"], STAFF["org_code"],
                                                                           strict=True)})
        org_rows = con.execute("SELECT id_number, org_code, leader_level FROM orgdept").fetchall()
        leaders = STAFF[STAFF["leader_level"].isin(["正职", "副职"])]
        assert sorted(org_rows) == sorted((i, o, "正职") for i, o in zip(leaders["id_number"], leaders["org_code"],
                                                                         strict=True))
    finally:
        con.close()

    # the returns feed the rules: the deceased person and the ghost on the payroll are found
    from workbench import rules

    rules.run_check(target, rules=["PER_DECEASED", "PAY_GHOST", "PER_POLICE_MISMATCH"])
    con = workspace.connect(target, read_only=True)
    try:
        found = rules.latest_findings(con)
    finally:
        con.close()
    got = set(zip(found["rule_id"], found["id_number"], strict=True))
    assert got == {("PER_DECEASED", P[3]), ("PAY_GHOST", _id("62010219750505009")),
                   ("PER_POLICE_MISMATCH", BAD_ID)}
