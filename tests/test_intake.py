"""Intake on small workbooks and CSVs written here with xlsxwriter / openpyxl: normalisation, rejects,
bad files, idempotence, replacement, duplicate keys, CLI and the rejects export.

Every failing file must leave the workspace's data and rejects exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from workbench import cli, contract, ids, intake, workspace

AS_OF = dt.date(2014, 3, 31)
ORG_H = [c.header for c in contract.ORGS.columns]
STAFF_H = [c.header for c in contract.STAFF.columns]


# ------------------------------------------------------------------------------------------ helpers
def uscc(region: str, serial: int) -> str:
    first17 = f"12{region}MB{serial:07d}"[:17]
    return first17 + ids.uscc_check_char(first17)


def pid(birth: str = "19800101", seq: int = 1, region: str = "620102") -> str:
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + ids.id_check_char(first17)


class F:
    """A formula cell with its cached value."""

    def __init__(self, formula: str, value):
        self.formula, self.value = formula, value


def write_xlsx(path: Path, sheets: dict[str, list[list]], title: str | None = None) -> Path:
    """Write rows exactly as given: str as text cells, numbers as numbers, dates as date cells, F as formulas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        offset = 0
        if title:
            ws.merge_range(0, 0, 0, max(len(rows[0]) - 1, 1), title)
            offset = 1
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                r = i + offset
                if v is None:
                    continue
                if isinstance(v, F):
                    ws.write_formula(r, j, v.formula, None, v.value)
                elif isinstance(v, str):
                    ws.write_string(r, j, v)
                elif isinstance(v, dt.date):
                    ws.write_datetime(r, j, dt.datetime.combine(v, dt.time()), date_fmt)
                else:
                    ws.write_number(r, j, v)
    wb.close()
    return path


def org_row(code: str, name: str = "某某局", region: str = "620102", cat: str = "政府机关", **kw) -> list:
    row = dict(zip([c.name for c in contract.ORGS.columns], [code, name, region, cat] + [None] * 13, strict=True))
    row.update(kw)
    return list(row.values())


def staff_row(id_number, name="张三", org="", kind="行政编制", cls="公务员", **kw) -> list:
    row = dict(zip([c.name for c in contract.STAFF.columns], [id_number, name, None, None, org, kind, cls, None, None, None],
                   strict=True))
    row.update(kw)
    return list(row.values())


ORG_A, ORG_B, ORG_C = uscc("620102", 1), uscc("620103", 2), uscc("620000", 3)


def basic_book(path: Path, n_staff: int = 3, **kw) -> Path:
    staff = [STAFF_H] + [staff_row(pid(seq=i), f"人员{i}", ORG_A) for i in range(1, n_staff + 1)]
    return write_xlsx(path, {"机构": [ORG_H, org_row(ORG_A), org_row(ORG_B, "某某中心", "620103", "事业单位", psi_class="公益一类")],
                             "人员": staff}, **kw)


def state(ws: Path) -> dict:
    """Every data table and the rejects, sorted — what a failed file must not change."""
    if not ws.exists():
        return {}
    con = duckdb.connect(str(ws), read_only=True)
    try:
        out = {s.table: con.execute(f'SELECT * FROM "{s.table}" ORDER BY ALL').fetchall() for s in contract.SHEETS}
        out["rejects"] = con.execute("SELECT * FROM rejects ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def q(ws: Path, sql: str, params=None) -> pd.DataFrame:
    con = duckdb.connect(str(ws), read_only=True)
    try:
        return con.execute(sql, params).df()
    finally:
        con.close()


def rejects(ws: Path) -> pd.DataFrame:
    return q(ws, 'SELECT file, sheet, "row", "column", value, reason, region_code, org_code, raw FROM rejects '
                 'ORDER BY file, sheet, "row", "column"')


@pytest.fixture
def ws(tmp_path) -> Path:
    return tmp_path / "ws" / "campaign.duckdb"


# ------------------------------------------------------------------------------------------ happy path
def test_loads_workbook_with_title_row_and_logs(tmp_path, ws):
    src = basic_book(tmp_path / "in" / "城关区.xlsx", title="城关区机构编制情况表（2014年3月）")
    summary = intake.intake([tmp_path / "in"], ws)
    assert list(summary.columns) == list(intake.SUMMARY_COLUMNS)
    got = summary.set_index("sheet")[["read", "loaded", "rejected"]].to_dict("index")
    assert got == {"机构": {"read": 2, "loaded": 2, "rejected": 0}, "人员": {"read": 3, "loaded": 3, "rejected": 0}}
    staff = q(ws, "SELECT * FROM staff ORDER BY _row")
    assert staff["_row"].tolist() == [3, 4, 5]  # title row 1, header row 2
    assert staff["_file"].unique().tolist() == ["城关区.xlsx"]
    assert staff["leader_level"].unique().tolist() == ["无"]  # blank = 无
    orgs = q(ws, "SELECT * FROM orgs ORDER BY _row")
    assert orgs["quota_admin"].tolist() == [0, 0]  # blank = 0
    loads = q(ws, "SELECT * FROM loads ORDER BY sheet")
    import hashlib
    assert set(loads["sha256"]) == {hashlib.sha256(src.read_bytes()).hexdigest()}
    assert set(loads["size"]) == {src.stat().st_size}
    assert set(loads["status"]) == {"loaded"}
    assert loads.set_index("sheet")["rows_loaded"].to_dict() == {"机构": 2, "人员": 3}
    con = duckdb.connect(str(ws), read_only=True)
    assert workspace.as_of(con) == AS_OF
    con.close()


def test_as_of_is_stored(tmp_path, ws):
    basic_book(tmp_path / "a.xlsx")
    intake.intake([tmp_path / "a.xlsx"], ws, as_of="2015-06-30")
    con = workspace.reader(ws)
    assert workspace.as_of(con) == dt.date(2015, 6, 30)
    con.close()


def test_dirty_but_valid_cells_are_normalised(tmp_path, ws):
    # an ID whose check character is X, written lower-case and full-width
    for seq in range(1, 999):
        p = pid("19800229", seq)
        if p.endswith("X"):
            break
    fullwidth = p[:-1].translate(str.maketrans("0123456789", "０１２３４５６７８９")) + "x"
    dates = ["2014-03-31", "2014/3/31", "2014.3.31", "20140331", "2014年3月31日", dt.date(2014, 3, 31)]
    staff = [STAFF_H]
    for i, d in enumerate(dates):
        staff.append(staff_row(pid(seq=100 + i), f" 李  四{i} ", ORG_A.lower(), entry_date=d,
                               sex="男", birth_date="1980-01-01", post="  科　员 "))
    staff.append(staff_row(f" {fullwidth} ", "王五", ORG_A, entry_date=20140331))
    write_xlsx(tmp_path / "d.xlsx", {"人员": staff})
    summary = intake.intake([tmp_path / "d.xlsx"], ws)
    assert summary["rejected"].sum() == 0, rejects(ws)
    s = q(ws, "SELECT * REPLACE (CAST(entry_date AS VARCHAR) AS entry_date) FROM staff ORDER BY _row")
    assert s["entry_date"].tolist() == ["2014-03-31"] * 7
    assert s["name"].tolist()[:2] == ["李 四0", "李 四1"]
    assert s["post"].iloc[0] == "科 员"
    assert s["org_code"].unique().tolist() == [ORG_A]
    assert s["id_number"].iloc[-1] == p
    assert p.endswith("X")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings(tmp_path, ws, encoding):
    rows = [",".join(STAFF_H)] + [",".join(str(v or "") for v in staff_row(pid(seq=i), f"赵钱孙{i}", ORG_A,
                                                                       entry_date="2014年3月1日"))
                                  for i in range(1, 4)]
    path = tmp_path / "人员.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode(encoding))
    summary = intake.intake([path], ws)
    assert summary[["read", "loaded", "rejected"]].iloc[0].tolist() == [3, 3, 0]
    s = q(ws, "SELECT name, CAST(entry_date AS VARCHAR) AS entry_date, _row FROM staff ORDER BY _row")
    assert s["name"].tolist() == ["赵钱孙1", "赵钱孙2", "赵钱孙3"]
    assert s["_row"].tolist() == [2, 3, 4]
    assert s["entry_date"].unique().tolist() == ["2014-03-01"]


def test_months_and_money(tmp_path, ws):
    head = [c.header for c in contract.PAYROLL.columns]
    months = ["2014-03", "2014/3", "201403", "2014年3月", dt.date(2014, 3, 1), "2014-3"]
    rows = [head] + [[pid(seq=i), "某", ORG_A, "6222", m, "1,234.50"] for i, m in enumerate(months, 1)]
    rows.append([pid(seq=50), "某", ORG_A, "6222", "2014-13", 100])
    rows.append([pid(seq=51), "某", ORG_A, "6222", "2014-03", "一千"])
    write_xlsx(tmp_path / "pay.xlsx", {"财政发放": rows})
    intake.intake([tmp_path / "pay.xlsx"], ws)
    p = q(ws, "SELECT pay_month, amount FROM payroll ORDER BY _row")
    assert p["pay_month"].tolist() == ["2014-03"] * 6
    assert float(p["amount"].iloc[0]) == 1234.5
    r = rejects(ws)
    assert r[["row", "column"]].values.tolist() == [[8, "发放月份"], [9, "应发金额"]]


# ------------------------------------------------------------------------------------------ rejected rows
def test_bad_rows_rejected_with_file_sheet_row_column(tmp_path, ws):
    orgs = [ORG_H,
            org_row(ORG_A, quota_admin=5),
            org_row(ORG_B, region="629999"),                       # row 3: region not in list
            org_row(uscc("620102", 9), cat="公司"),                 # row 4: code outside list
            org_row(uscc("620102", 10), quota_inst=-2),            # row 5: negative quota
            org_row(uscc("620102", 11), quota_worker="三"),         # row 6: not a number
            org_row(uscc("620102", 12), approved_chief=1.5),       # row 7: not an integer
            org_row(uscc("620102", 13), name=None),                # row 8: required empty
            org_row("12620102MB00000INVALID")]                     # row 9: invalid USCC -> loaded
    staff = [STAFF_H,
             staff_row(620102198001010011, "数值", ORG_A),          # row 2: ID stored as a number
             staff_row(pid(seq=2), "日期", ORG_A, entry_date="2014-02-30"),   # row 3: impossible date
             staff_row("12345", "无效号码", ORG_A),                  # row 4: invalid ID -> loaded
             staff_row(pid(seq=4), "性别", ORG_A, sex="M"),          # row 5: code outside list
             staff_row(pid(seq=5), "公式", F("=\"" + ORG_A + "\"", ORG_A))]  # row 6: formula: cached value
    write_xlsx(tmp_path / "bad.xlsx", {"机构": orgs, "人员": staff})
    summary = intake.intake([tmp_path / "bad.xlsx"], ws).set_index("sheet")
    assert summary.loc["机构", ["read", "loaded", "rejected"]].tolist() == [8, 2, 6]
    assert summary.loc["人员", ["read", "loaded", "rejected"]].tolist() == [5, 2, 3]
    r = rejects(ws)
    assert r[["sheet", "row", "column"]].values.tolist() == [
        ["人员", 2, "公民身份号码"], ["人员", 3, "进入本单位时间"], ["人员", 5, "性别"],
        ["机构", 3, "行政区划代码"], ["机构", 4, "机构类别"], ["机构", 5, "核定事业编制"],
        ["机构", 6, "核定工勤编制"], ["机构", 7, "核定正职领导职数"], ["机构", 8, "机构名称"],
    ]
    assert set(r["file"]) == {"bad.xlsx"}
    reason = r.set_index(["sheet", "row"])["reason"]
    assert "文本" in reason["人员", 2] and "数值" in reason["人员", 2]
    assert "2014-02-30" in reason["人员", 3]
    assert "629999" in reason["机构", 3]
    assert "公司" in reason["机构", 4] and "代码表" in reason["机构", 4]
    assert "负数" in reason["机构", 5]
    assert "不是数字" in reason["机构", 6]
    assert "不是整数" in reason["机构", 7]
    assert "必填" in reason["机构", 8]
    # region and unit are recorded where known; the raw row is kept as JSON
    row3 = r[(r.sheet == "机构") & (r.row == 3)].iloc[0]
    assert row3["org_code"] == ORG_B and row3["region_code"] == "620103"  # from the USCC digits
    row4 = r[(r.sheet == "机构") & (r.row == 4)].iloc[0]
    assert row4["region_code"] == "620102"
    assert r[(r.sheet == "人员") & (r.row == 3)].iloc[0]["region_code"] == "620102"  # from its unit in 机构
    raw = json.loads(r[(r.sheet == "人员") & (r.row == 3)].iloc[0]["raw"])
    assert raw["姓名"] == "日期" and raw["进入本单位时间"] == "2014-02-30"
    loaded = q(ws, "SELECT id_number, org_code, _row FROM staff ORDER BY _row")
    assert loaded.values.tolist() == [["12345", ORG_A, 4],  # an invalid ID is loaded (a rule reports it)
                                      [pid(seq=5), ORG_A, 6]]  # the formula's cached value
    assert "12620102MB00000INVALID" in q(ws, "SELECT org_code FROM orgs")["org_code"].tolist()
    # the summary text names the rejects
    text = intake.format_summary(intake.intake([tmp_path / "bad.xlsx"], ws))
    assert "文件" in text and "拒绝" in text


def test_duplicate_org_keys_first_wins(tmp_path, ws):
    write_xlsx(tmp_path / "in" / "a.xlsx", {"机构": [ORG_H, org_row(ORG_A, "甲"), org_row(ORG_A, "甲重复")]})
    write_xlsx(tmp_path / "in" / "b.xlsx", {"机构": [ORG_H, org_row(ORG_A, "乙"), org_row(ORG_B, "乙二")]})
    summary = intake.intake([tmp_path / "in"], ws).set_index("file")
    assert summary.loc["a.xlsx", ["loaded", "rejected"]].tolist() == [1, 1]
    assert summary.loc["b.xlsx", ["loaded", "rejected"]].tolist() == [1, 1]
    orgs = q(ws, "SELECT org_code, org_name FROM orgs ORDER BY org_code")
    assert orgs.values.tolist() == [[ORG_A, "甲"], [ORG_B, "乙二"]]
    r = rejects(ws)
    assert r[["file", "row", "column"]].values.tolist() == [["a.xlsx", 3, "统一社会信用代码"],
                                                           ["b.xlsx", 2, "统一社会信用代码"]]
    assert all("a.xlsx" in x and "第2行" in x for x in r["reason"])
    loads = q(ws, "SELECT file, rows_loaded, rows_rejected FROM loads ORDER BY file")
    assert loads.values.tolist() == [["a.xlsx", 1, 1], ["b.xlsx", 1, 1]]
    # a later call: rows already in the workspace win
    write_xlsx(tmp_path / "c.xlsx", {"机构": [ORG_H, org_row(ORG_B, "丙")]})
    s2 = intake.intake([tmp_path / "c.xlsx"], ws)
    assert s2[["loaded", "rejected"]].iloc[0].tolist() == [0, 1]
    assert "工作区中已有" in rejects(ws).query("file == 'c.xlsx'")["reason"].iloc[0]


def test_unknown_column_ignored_and_said(tmp_path, ws):
    rows = [[*STAFF_H, "备注说明"], [*staff_row(pid(seq=1), "甲", ORG_A), "随便写"],
            [*staff_row(pid(seq=2), None, ORG_A), "姓名漏填"]]
    write_xlsx(tmp_path / "x.xlsx", {"人员": rows})
    summary = intake.intake([tmp_path / "x.xlsx"], ws)
    assert "备注说明" in summary["message"].iloc[0] and "忽略" in summary["message"].iloc[0]
    assert json.loads(rejects(ws)["raw"].iloc[0])["备注说明"] == "姓名漏填"  # nothing is lost
    assert "备注说明" in q(ws, "SELECT message FROM loads")["message"].iloc[0]


def test_canonical_headers_and_sheet_recognised_by_header(tmp_path, ws):
    rows = [[c.name for c in contract.STAFF.columns], staff_row(pid(seq=1), "甲", ORG_A)]
    write_xlsx(tmp_path / "y.xlsx", {"Sheet1": rows, "填表说明": [["本表请按模板填写"], ["谢谢"]]})
    summary = intake.intake([tmp_path / "y.xlsx"], ws).set_index("sheet")
    assert summary.loc["Sheet1", "loaded"] == 1
    assert summary.loc["填表说明", "status"] == intake.SKIPPED
    assert "填表说明" in summary.loc["填表说明", "message"]


@pytest.mark.parametrize("sliced", [False, True])
def test_two_row_header_with_merged_parent(tmp_path, ws, monkeypatch, sliced):
    if sliced:
        from workbench import readers

        monkeypatch.setattr(readers, "SMALL_SHEET_BYTES", 0)
    path = tmp_path / "merged.xlsx"
    wb = xlsxwriter.Workbook(path)
    sh = wb.add_worksheet("机构")
    single = ["统一社会信用代码", "机构名称", "行政区划代码", "机构类别"]
    for j, h in enumerate(single):
        sh.merge_range(0, j, 1, j, h)
    sh.merge_range(0, 4, 0, 7, "核定")
    for j, h in enumerate(["行政编制", "政法专项编制", "事业编制", "工勤编制"]):
        sh.write_string(1, 4 + j, h)
    sh.write_row(2, 0, [ORG_A, "某局", "620102", "政府机关"])
    sh.write_row(2, 4, [5, 0, 2, 1])
    wb.close()
    intake.intake([path], ws)
    o = q(ws, "SELECT quota_admin, quota_legal, quota_inst, quota_worker, _row FROM orgs")
    assert o.values.tolist() == [[5, 0, 2, 1, 3]]


# ------------------------------------------------------------------------------------------ files
def test_same_bytes_twice_is_a_noop(tmp_path, ws):
    basic_book(tmp_path / "a.xlsx")
    intake.intake([tmp_path / "a.xlsx"], ws)
    before, loads_before = state(ws), q(ws, "SELECT * FROM loads")
    again = intake.intake([tmp_path / "a.xlsx"], ws)
    assert again["status"].tolist() == [intake.UNCHANGED]
    assert "a.xlsx" in again["message"].iloc[0]
    assert state(ws) == before
    assert len(q(ws, "SELECT * FROM loads")) == len(loads_before)


def test_new_version_replaces_rows_and_rejects(tmp_path, ws):
    d = tmp_path / "in"
    write_xlsx(d / "县.xlsx", {"人员": [STAFF_H, staff_row(pid(seq=1), "旧", ORG_A), staff_row(pid(seq=2), None, ORG_A)]})
    write_xlsx(d / "其他.xlsx", {"人员": [STAFF_H, staff_row(pid(seq=9), "别的文件", ORG_A)]})
    intake.intake([d], ws)
    assert len(rejects(ws)) == 1
    write_xlsx(d / "县.xlsx", {"人员": [STAFF_H, staff_row(pid(seq=3), "新", ORG_A), staff_row(pid(seq=4), "新二", ORG_A)]})
    summary = intake.intake([d], ws).set_index("file")
    assert summary.loc["县.xlsx", "status"] == intake.REPLACED
    assert summary.loc["其他.xlsx", "status"] == intake.UNCHANGED
    assert sorted(q(ws, "SELECT name FROM staff")["name"]) == ["别的文件", "新", "新二"]
    assert rejects(ws).empty
    assert q(ws, "SELECT status FROM loads WHERE file = '县.xlsx' ORDER BY load_id")["status"].tolist() == \
        ["replaced", "loaded"]


def _zip_bomb(path: Path, mb: int) -> Path:
    basic_book(path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/media/padding.bin", b"\0" * (mb * 2**20))
    return path


def _encrypted(path: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = basic_book(path.with_name("plain.xlsx"))
    with open(plain, "rb") as f, open(path, "wb") as out:
        OOXMLFile(f).encrypt("secret", out)
    plain.unlink()
    return path


def _truncated(path: Path) -> Path:
    data = basic_book(path.with_name("full.xlsx")).read_bytes()
    path.with_name("full.xlsx").unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_FILES = {
    "truncated": (lambda p: _truncated(p / "坏.xlsx"), "坏.xlsx", "损坏"),
    "garbage_zip": (lambda p: (p / "坏.xlsx").write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50) and p / "坏.xlsx",
                    "坏.xlsx", "损坏"),
    "csv_named_xlsx": (lambda p: (p / "假.xlsx").write_text("公民身份号码,姓名\n1,2\n", encoding="utf-8") and p / "假.xlsx",
                       "假.xlsx", "CSV"),
    "zip_bomb": (lambda p: _zip_bomb(p / "炸弹.xlsx", 30), "炸弹.xlsx", "压缩炸弹"),
    "encrypted": (lambda p: _encrypted(p / "密码.xlsx"), "密码.xlsx", "密码"),
    "empty": (lambda p: (p / "空.xlsx").write_bytes(b"") or p / "空.xlsx", "空.xlsx", "空文件"),
    "too_big": (lambda p: basic_book(p / "大.xlsx", n_staff=400), "大.xlsx", "超过上限"),
    "xls": (lambda p: (p / "旧.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600) and p / "旧.xls",
            "旧.xls", ".xls"),
    "no_header": (lambda p: write_xlsx(p / "无表头.xlsx", {"人员": [["张三", "李四"], ["1", "2"]]}), "无表头.xlsx", "表头"),
    "missing_required": (lambda p: write_xlsx(p / "缺列.xlsx", {"人员": [STAFF_H[:4], [pid(), "甲", "男", "1980-01-01"]]}),
                         "缺列.xlsx", "所在机构代码"),
    "csv_ragged": (lambda p: (p / "错列.csv").write_text(
        ",".join(STAFF_H[:7]) + "\n" + ",".join([pid(), "甲", "男", "", ORG_A, "行政编制", "公务员"]) + "\n甲,乙\n",
        encoding="utf-8") and p / "错列.csv", "错列.csv", "第 3 行"),
    "csv_no_header": (lambda p: (p / "无表头.csv").write_text("a,b\n1,2\n", encoding="utf-8") and p / "无表头.csv",
                      "无表头.csv", "表头"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_unreadable_file_changes_nothing(tmp_path, ws, case):
    make, name, needle = BAD_FILES[case]
    good = basic_book(tmp_path / "good" / "城关区.xlsx")
    intake.intake([good], ws)
    before = state(ws)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = make(bad_dir)
    # a previous good version under the same name must survive a bad new version
    summary = intake.intake([bad], ws, max_bytes=16 * 1024 if case == "too_big" else 2 * 2**20)
    assert summary["status"].tolist() == [intake.FAILED]
    msg = summary["message"].iloc[0]
    assert f"“{name}”" in msg and needle in msg, msg
    assert state(ws) == before
    log = q(ws, "SELECT status, message FROM loads WHERE file = ?", [name])
    assert log["status"].tolist() == ["failed"] and log["message"].iloc[0] == msg


def test_failed_new_version_keeps_old_rows_and_others_load(tmp_path, ws):
    d = tmp_path / "in"
    basic_book(d / "a.xlsx")
    intake.intake([d], ws)
    before = state(ws)
    _truncated(d / "a.xlsx")
    write_xlsx(d / "b.xlsx", {"人员": [STAFF_H, staff_row(pid(seq=77), "乙", ORG_A)]})
    summary = intake.intake([d], ws).set_index("file")
    assert summary.loc["a.xlsx", "status"] == intake.FAILED
    assert summary.loc["b.xlsx", "status"] == intake.LOADED
    after = state(ws)
    assert after["orgs"] == before["orgs"]
    assert len(after["staff"]) == len(before["staff"]) + 1


def test_sheet_named_by_contract_without_header_names_sheet(tmp_path, ws):
    write_xlsx(tmp_path / "t.xlsx", {"机构": [["随便"], ["什么"]], "人员": [STAFF_H, staff_row(pid(), "甲", ORG_A)]})
    summary = intake.intake([tmp_path / "t.xlsx"], ws)
    msg = summary["message"].iloc[0]
    assert summary["status"].tolist() == [intake.FAILED]
    assert "“t.xlsx”" in msg and "“机构”" in msg and "表头" in msg
    assert state(ws)["staff"] == []


def test_folder_scan_skips_lock_and_hidden_files(tmp_path, ws):
    d = tmp_path / "in"
    basic_book(d / "sub" / "a.xlsx")
    (d / "~$a.xlsx").write_bytes(b"lock")
    (d / ".hidden.xlsx").write_bytes(b"junk")
    (d / "readme.txt").write_text("x")
    summary = intake.intake([d], ws)
    assert set(summary["file"]) == {"sub/a.xlsx"}


# ------------------------------------------------------------------------------------------ export / CLI
def test_export_rejects_round_trip(tmp_path, ws):
    bad_id = 620102198001010011
    write_xlsx(tmp_path / "r.xlsx", {"人员": [STAFF_H, staff_row(bad_id, "甲", ORG_A),
                                             staff_row(pid(seq=3), "乙", ORG_A, kind="临时编制")]})
    intake.intake([tmp_path / "r.xlsx"], ws)
    out = intake.export_rejects(ws, tmp_path / "out" / "rejects.xlsx")
    wb = openpyxl.load_workbook(out)
    sh = wb["被拒行"]
    rows = list(sh.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:6] == ["文件", "工作表", "行号", "列名", "原值", "原因"]
    body = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [(b["行号"], b["列名"]) for b in body] == [(2, "公民身份号码"), (3, "编制类型")]
    assert body[1]["原值"] == "临时编制"
    assert body[1]["公民身份号码"] == ids.mask_id(pid(seq=3))  # masked by default
    assert "*" in body[0]["原值"]
    assert all(b["说明"].startswith("文件“r.xlsx”工作表“人员”第") for b in body)
    assert "第3行“编制类型”" in body[1]["说明"]
    full = intake.rejects_frame(ws, pii="full")
    assert full["公民身份号码"].iloc[1] == pid(seq=3)


def test_cli_intake_summary_and_rejects(tmp_path, ws, capsys):
    d = tmp_path / "in"
    basic_book(d / "a.xlsx")
    write_xlsx(d / "b.xlsx", {"人员": [STAFF_H, staff_row(pid(seq=5), None, ORG_A)]})
    rc = cli.main(["intake", str(d), "--workspace", str(ws), "--as-of", "2014-03-31"])
    out = capsys.readouterr().out
    assert rc == 0
    for h in ("文件", "工作表", "读取", "导入", "拒绝", "状态"):
        assert h in out
    assert "b.xlsx" in out and "合计" in out
    rc = cli.main(["intake", str(d), "--workspace", str(ws)])
    assert "未变化" in capsys.readouterr().out
    rc = cli.main(["intake", "--workspace", str(ws), "--rejects", str(tmp_path / "rej.xlsx"), "--pii", "full"])
    assert rc == 0 and (tmp_path / "rej.xlsx").exists()
    df = pd.read_excel(tmp_path / "rej.xlsx", dtype=str, engine="openpyxl")
    assert df["公民身份号码"].tolist() == [pid(seq=5)]
    (d / "坏.xlsx").write_bytes(b"")
    rc = cli.main(["intake", str(d), "--workspace", str(ws)])
    assert rc == 1 and "空文件" in capsys.readouterr().out


def _handmade_xlsx(path: Path, rows: list[list], numeric_first: bool = False) -> Path:
    """A minimal workbook whose rows and cells carry no r="…" references (some generators write that)."""
    def cell(v, numeric):
        if numeric:
            return f"<c><v>{v}</v></c>"
        return f'<c t="inlineStr"><is><t>{v}</t></is></c>'
    body = "".join("<row>" + "".join(cell(v, numeric_first and i > 1 and j == 0) for j, v in enumerate(r)) + "</row>"
                   for i, r in enumerate(rows))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>')
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
          "</Types>")
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
          '<sheet name="人员" sheetId="1" r:id="rId1"/></sheets></workbook>')
    wbrels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
              'Target="worksheets/sheet1.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (("[Content_Types].xml", ct), ("_rels/.rels", rels), ("xl/workbook.xml", wb),
                           ("xl/_rels/workbook.xml.rels", wbrels), ("xl/worksheets/sheet1.xml", sheet)):
            z.writestr(name, data)
    return path


def test_rows_without_cell_references(tmp_path, ws):
    rows = [["某县在编人员"], STAFF_H[:7], [pid(seq=1), "甲", "男", "1980-01-01", ORG_A, "行政编制", "公务员"],
            [pid(seq=2)[:15], "乙", "女", "", ORG_A, "事业编制", "管理人员"]]
    _handmade_xlsx(tmp_path / "h.xlsx", rows, numeric_first=True)
    summary = intake.intake([tmp_path / "h.xlsx"], ws)
    assert summary[["read", "loaded", "rejected"]].iloc[0].tolist() == [2, 0, 2]
    r = rejects(ws)
    assert r[["row", "column"]].values.tolist() == [[3, "公民身份号码"], [4, "公民身份号码"]]
    assert all("文本" in x for x in r["reason"])


def test_csv_with_title_line_and_scientific_ids(tmp_path, ws):
    lines = ["某县人员名单（2014年）,,,,,,", ",".join(STAFF_H[:7]),
             ",".join([pid(seq=1), "甲", "男", "1980/1/1", ORG_A, "行政编制", "公务员"]),
             ",".join(["6.20102E+17", "乙", "女", "", ORG_A, "行政编制", "公务员"])]
    (tmp_path / "名单.csv").write_bytes("\n".join(lines).encode("gb18030"))
    summary = intake.intake([tmp_path / "名单.csv"], ws)
    assert summary[["read", "loaded", "rejected"]].iloc[0].tolist() == [2, 1, 1]
    r = rejects(ws)
    assert r[["file", "sheet", "row", "column"]].values.tolist() == [["名单.csv", "名单", 4, "公民身份号码"]]
    assert "文本" in r["reason"].iloc[0]
    assert q(ws, "SELECT _row FROM staff")["_row"].tolist() == [3]


def test_sheet_recognised_by_header_missing_required_is_left_out(tmp_path, ws):
    codes = [["性别", "编制类型", "身份类别"], ["男", "行政编制", "公务员"]]  # a code-list sheet, not data
    write_xlsx(tmp_path / "t.xlsx", {"人员": [STAFF_H, staff_row(pid(), "甲", ORG_A)], "代码": codes})
    summary = intake.intake([tmp_path / "t.xlsx"], ws).set_index("sheet")
    assert summary.loc["人员", "loaded"] == 1
    assert summary.loc["代码", "status"] == intake.SKIPPED
    assert "公民身份号码" in summary.loc["代码", "message"]
    csv = tmp_path / "缺列.csv"
    csv.write_text("姓名,所在机构代码,编制类型\n甲,x,行政编制\n", encoding="utf-8")
    s2 = intake.intake([csv], ws)
    assert s2["status"].tolist() == [intake.FAILED]
    assert "“缺列.csv”" in s2["message"].iloc[0] and "公民身份号码" in s2["message"].iloc[0]


def test_streamed_slices_give_the_same_result_as_whole_sheets(tmp_path, monkeypatch):
    """Large sheets are read in slices of rows: force tiny slices and compare with the whole-sheet read."""
    from workbench import readers

    d = tmp_path / "in"
    basic_book(d / "a.xlsx", n_staff=60, title="标题行")
    staff = [STAFF_H] + [staff_row(pid(seq=i), f"人{i}", ORG_A, entry_date="2014/3/1") for i in range(1, 80)]
    staff[40][0] = 620102198001010011  # a numeric ID in the middle of the sheet (row 41)
    staff[70][5] = "临时"              # a code outside the list (row 71)
    write_xlsx(d / "b.xlsx", {"人员": staff})
    whole = intake.intake([d], tmp_path / "whole.duckdb")
    monkeypatch.setattr(readers, "SMALL_SHEET_BYTES", 0)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1500)
    sliced = intake.intake([d], tmp_path / "sliced.duckdb")
    pd.testing.assert_frame_equal(whole, sliced)
    for table in ("staff", "orgs", "rejects"):
        a = q(tmp_path / "whole.duckdb", f"SELECT * EXCLUDE ({'load_id' if table == 'rejects' else '_load_id'}) "
                                         f"FROM {table} ORDER BY ALL")
        b = q(tmp_path / "sliced.duckdb", f"SELECT * EXCLUDE ({'load_id' if table == 'rejects' else '_load_id'}) "
                                          f"FROM {table} ORDER BY ALL")
        pd.testing.assert_frame_equal(a, b)
    assert rejects(tmp_path / "sliced.duckdb")[["file", "row", "column"]].values.tolist() == [
        ["b.xlsx", 41, "公民身份号码"], ["b.xlsx", 71, "编制类型"]]


def test_empty_contract_sheet_is_noted_not_fatal(tmp_path, ws):
    path = tmp_path / "e.xlsx"
    wb = xlsxwriter.Workbook(path)
    wb.add_worksheet("编外人员")
    sh = wb.add_worksheet("人员")
    for i, row in enumerate([STAFF_H, staff_row(pid(), "甲", ORG_A)]):
        sh.write_row(i, 0, row)
    wb.close()
    summary = intake.intake([path], ws).set_index("sheet")
    assert summary.loc["人员", "loaded"] == 1
    assert summary.loc["编外人员", "status"] == intake.SKIPPED and "空工作表" in summary.loc["编外人员", "message"]


def test_chart_sheet_is_skipped(tmp_path, ws):
    path = tmp_path / "chart.xlsx"
    wb = xlsxwriter.Workbook(path)
    sh = wb.add_worksheet("人员")
    for i, row in enumerate([STAFF_H, staff_row(pid(), "甲", ORG_A)]):
        sh.write_row(i, 0, row)
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=人员!$A$2:$A$2"})
    wb.add_chartsheet("图表").set_chart(chart)
    wb.close()
    summary = intake.intake([path], ws)
    assert summary["sheet"].tolist() == ["人员"] and summary["loaded"].tolist() == [1]


def test_template_help_sheets_are_skipped_quietly(tmp_path):
    from workbench import templates

    path = templates.write_template(tmp_path / "模板.xlsx", [contract.STAFF], blank_rows=5)
    names = openpyxl.load_workbook(path, read_only=True).sheetnames  # it carries its instruction sheets
    assert {templates.INSTRUCTIONS_SHEET, templates.FIELDS_SHEET} < set(names)
    out = intake.intake([path], tmp_path / "ws.duckdb")
    assert list(out["sheet"]) == [contract.STAFF.name]
    assert list(out["status"]) == [intake.LOADED] and not out["message"].iloc[0]


def test_fast_paths_of_date_month_and_number_parsing_change_nothing():
    """The regex-free shortcuts for the common shapes (2014-03-31 00:00:00, 2014-03, 4523.50) give exactly what
    the full parsing gives, on generated near-miss strings of every shape."""
    import random

    import duckdb

    from workbench import normalize

    rng = random.Random(7)
    alphabet = "0123456789-/. :年月日T,，¥￥元ａ１+eE"
    values = ["2014-03-31", "2014-03-31 00:00:00", "2014-02-29", "2014-13-01", "0000-01-01", "2014-03", "2014-3",
              "201403", "2014-00", "4523.50", "1,200", "1e3", "", "2014-03-31 00:00:01", "2014-03-3１ 00:00:00"]
    for _ in range(20000):
        shape = rng.choice(["dddd-dd-dd", "dddd-dd-dd 00:00:00", "dddd-dd", "dddd-d-d", "dddddddd", "d.dd", "*"])
        out = "".join(rng.choice("0123456789") if c == "d" else c for c in shape) if shape != "*" else ""
        if shape == "*" or rng.random() < 0.3:  # near misses: one character replaced, or random text
            chars = list(out or "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 20))))
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            out = "".join(chars)
        values.append(out)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    for fn in (normalize._date_sql, normalize._month_sql, normalize._number_text_sql):
        diff = con.execute(f"SELECT count(*) FILTER (WHERE ({fn('v')}) IS DISTINCT FROM ({fn('v', fast=False)})), "
                           f"count({fn('v')}) FROM t").fetchall()[0]
        assert diff[0] == 0 and diff[1] > 1000, fn.__name__


def test_slices_whose_ids_are_all_numbers_are_rejected(tmp_path, monkeypatch):
    """In the sliced read, a slice whose ID cells are all numbers (typed as a number column, not text) is read
    again as text and every such cell is rejected with the numeric-ID reason."""
    from workbench import readers

    staff = [STAFF_H] + [staff_row(620102198001010011 + i, f"人{i}", ORG_A) for i in range(1, 30)]
    write_xlsx(tmp_path / "n.xlsx", {"人员": staff})
    monkeypatch.setattr(readers, "SMALL_SHEET_BYTES", 0)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1500)
    summary = intake.intake([tmp_path / "n.xlsx"], tmp_path / "ws.duckdb").set_index("sheet")
    assert summary.loc["人员", "loaded"] == 0 and summary.loc["人员", "rejected"] == 29
    r = rejects(tmp_path / "ws.duckdb")
    assert r["row"].tolist() == list(range(2, 31)) and r["column"].eq("公民身份号码").all()
    assert r["reason"].str.contains("数值").all()


def test_numeric_cell_prefilter_never_misses_what_the_scan_finds():
    """The numpy pre-check of a column's cell tags says "maybe" wherever the exact XML scan finds a number."""
    import random

    from workbench import readers

    rng = random.Random(11)
    kinds = ['<c r="{c}{r}" s="1" t="s"><v>3</v></c>', '<c r="{c}{r}" t="inlineStr"><is><t>x</t></is></c>',
             '<c r="{c}{r}" s="2" t="str"><f>A1</f><v>x</v></c>', '<c r="{c}{r}" s="3"/>', '<c r="{c}{r}"/>',
             '<c r="{c}{r}" t="n"><v>6.2E+17</v></c>', '<c r="{c}{r}" s="4"><v>620102198001010011</v></c>',
             '<c r="{c}{r}"><f>1+1</f><v>2</v></c>', '<c r="{c}{r}" s="5" t="b"><v>1</v></c>', '<c r="{c}{r}" t="e"><v>#N/A</v></c>']
    for _ in range(300):
        letters = ["A", "B", "AB", "BA"]
        rows = []
        for r in range(2, rng.randrange(3, 40)):
            rows.append(f'<row r="{r}">' + "".join(rng.choice(kinds[:5] if rng.random() < 0.9 else kinds).format(c=c, r=r)
                                                   for c in letters) + "</row>")
        xml = ('<worksheet><sheetData>' + "".join(rows) + "</sheetData></worksheet>").encode()
        tags = readers._cell_tags(xml)
        assert readers._cell_refs(xml, tags)
        for c in letters:
            if readers._numeric_rows(xml, c):
                assert readers._maybe_numeric(tags, c), (c, xml)
            if not any(k in xml.decode() for k in ('t="n"', 's="4"><v>', '"><f>1+1')):
                assert not readers._maybe_numeric(tags, c)


@pytest.mark.parametrize("compact", [False, True])
def test_normalising_only_the_flagged_rows_equals_normalising_every_row(compact):
    """normalize_text works only on the rows its byte scan flags; on random columns (ASCII, CJK, full-width
    forms, Unicode and ASCII spaces, control characters, empty strings, nulls) it gives what the full pipeline
    applied to every row gives."""
    import random

    import pyarrow as pa

    from workbench import normalize

    rng = random.Random(5 + compact)
    pieces = ["a", "Z", "x", "7", "-", "(", " ", "  ", "\t", "\n", "张", "三", "局", "䶵", "（", "）", "１", "ｘ",
              "\u3000", "\u00a0", "\u2003", "·", "é", "e\u0301", "ﬁ", "①", "㈱", "\x01", "办公室", "620102X"]
    for _ in range(400):
        values = []
        for _ in range(rng.randrange(1, 30)):
            r = rng.random()
            if r < 0.05:
                values.append(None)
            elif r < 0.08:
                values.append("")
            elif r < 0.5:  # mostly clean values, as in real files
                values.append("".join(rng.choice(["张", "三", "局", "a", "7", "X"]) for _ in range(rng.randrange(1, 6))))
            else:
                values.append("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 6))))
        arr = pa.array(values, pa.string())
        for part in (arr, arr.slice(1)):
            assert normalize.normalize_text(part, compact).equals(normalize._normalize_all(part, compact)), values
