"""The sample-province generator: determinism, planted rules, valid normal data, dirty cells, rejects.

Files are read back with openpyxl / the csv module (not with the generator's code); the end-to-end test
loads the sample with intake, runs the rules and compares with truth.csv and expected_rejects.csv.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench import cli, contract, ids, regions, synth

AS_OF = dt.date(2014, 3, 31)
#: DESIGN §5, spelled out independently of the rule registry
RULES = (
    "ORG_UNAPPROVED", "ORG_EXCESS_INTERNAL", "ORG_OUT_OF_SCOPE", "ORG_CODE_INVALID", "ORG_UNKNOWN",
    "ORG_STAT_MISMATCH", "EST_OVER", "EST_MIXED", "LDR_OVER", "LDR_UNCONFIRMED", "PER_ID_INVALID",
    "PER_ID_CONFLICT", "PER_DUPLICATE", "PER_POLICE_MISMATCH", "PER_DECEASED", "PER_OVERAGE", "PER_UNDERAGE",
    "PAY_GHOST", "PAY_UNPAID", "PAY_ORG_MISMATCH", "PAY_SHARED_ACCOUNT", "PAY_OVER_QUOTA", "HR_MISSING",
)
TEXT_DATE_FORMATS = {
    "2014-03-31": r"\d{4}-\d{2}-\d{2}", "2014/3/31": r"\d{4}/\d{1,2}/\d{1,2}", "2014.3.31": r"\d{4}\.\d{1,2}\.\d{1,2}",
    "20140331": r"\d{8}", "2014年3月31日": r"\d{4}年\d{1,2}月\d{1,2}日",
}


def norm(v) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(v))).upper() if v is not None else ""


def read_sheets(inputs: Path, sheet_name: str) -> pd.DataFrame:
    """Every sheet of that name in every workbook, raw cell values (openpyxl), with file and row."""
    frames = []
    for path in sorted(inputs.rglob("*.xlsx")):
        wb = openpyxl.load_workbook(path, read_only=True)
        if sheet_name in wb.sheetnames:
            rows = list(wb[sheet_name].iter_rows(values_only=True))
            df = pd.DataFrame(rows[1:], columns=rows[0], dtype=object)
            df["_file"] = path.relative_to(inputs).as_posix()
            df["_row"] = range(2, len(df) + 2)
            frames.append(df)
        wb.close()
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth500")
    synth.generate(out, persons=500, seed=3)
    return out


def without_rejects(frame: pd.DataFrame, rejects: pd.DataFrame, sheet: str) -> pd.DataFrame:
    """The rows intake is expected to load (planted bad rows removed)."""
    bad = set(zip(rejects.loc[rejects["sheet"] == sheet, "file"], rejects.loc[rejects["sheet"] == sheet, "row"],
                  strict=True))
    keep = [(f, r) not in bad for f, r in zip(frame["_file"], frame["_row"], strict=True)]
    return frame[keep].copy()


@pytest.fixture(scope="module")
def staff(sample_dir, rejects) -> pd.DataFrame:
    return without_rejects(read_sheets(sample_dir / "inputs", "人员"), rejects, "人员")


@pytest.fixture(scope="module")
def orgs(sample_dir, rejects) -> pd.DataFrame:
    o = without_rejects(read_sheets(sample_dir / "inputs", "机构"), rejects, "机构")
    return o.assign(code=o["统一社会信用代码"].map(norm))


@pytest.fixture(scope="module")
def in_scope_staff(staff, orgs) -> pd.DataFrame:
    """人员 rows with a text ID outside the out-of-scope units (whose anomalies are deliberate)."""
    oos = set(orgs.loc[orgs["事业单位类别"] == contract.OUT_OF_SCOPE_PSI, "code"])
    s = staff[staff["公民身份号码"].map(lambda v: isinstance(v, str))]
    return s[~s["所在机构代码"].map(norm).isin(oos)].copy()


@pytest.fixture(scope="module")
def truth(sample_dir) -> pd.DataFrame:
    return pd.read_csv(sample_dir / "truth.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def rejects(sample_dir) -> pd.DataFrame:
    return pd.read_csv(sample_dir / "expected_rejects.csv", dtype={"row": int})


# ------------------------------------------------------------------------------------------ shape
def test_layout_and_manifest(sample_dir):
    inputs = sample_dir / "inputs"
    reg = regions.regions()
    names = dict(zip(reg["region_code"], reg["name"], strict=True))
    for code, level, parent in zip(reg["region_code"], reg["level"], reg["parent_code"], strict=True):
        if level == "county":
            assert (inputs / names[parent] / f"{names[code]}.xlsx").is_file()
        elif level == "city":
            assert (inputs / names[code] / f"{names[code]}本级.xlsx").is_file()
    for f in ("省直/省直单位.xlsx", "联合审核/公安核查.xlsx", "联合审核/财政发放_2014-02.xlsx",
              "联合审核/财政发放_2014-03.xlsx", "联合审核/人社信息.csv", "联合审核/组织部门.xlsx", "统计/2013统计.xlsx"):
        assert (inputs / f).is_file(), f
    wb = openpyxl.load_workbook(inputs / "兰州市" / "城关区.xlsx", read_only=True)
    assert wb.sheetnames[:2] == ["机构", "人员"]
    assert [c.value for c in next(wb["人员"].iter_rows(max_row=1))] == [c.header for c in contract.STAFF.columns]
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 7 and manifest["as_of"] == "2014-03-31"
    assert 2500 <= manifest["rows_per_sheet"]["人员"] <= 3500
    assert all((inputs / f).is_file() for f in manifest["files"])


def test_deterministic_for_a_seed(small, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    assert cli.main(["synth", "--out", str(again), "--persons", "500", "--seed", "3"]) == 0
    synth.generate(other, persons=500, seed=4)
    files = sorted(p.relative_to(small) for p in small.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        assert (small / f).read_bytes() == (again / f).read_bytes(), f
    assert (small / "truth.csv").read_bytes() != (other / "truth.csv").read_bytes()
    assert (small / "inputs/省直/省直单位.xlsx").read_bytes() != (other / "inputs/省直/省直单位.xlsx").read_bytes()


@pytest.mark.parametrize("which", ["sample", "small"])
def test_every_rule_planted_at_least_twice(which, sample_dir, small):
    out = sample_dir if which == "sample" else small
    t = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    counts = t["rule_id"].value_counts()
    assert set(counts.index) == set(RULES)
    assert (counts >= 2).all(), counts[counts < 2]
    assert not t.duplicated().any()
    keyed = t["rule_id"].isin(["EST_OVER", "LDR_OVER", "ORG_STAT_MISMATCH"])
    assert (t.loc[keyed, "item"] != "").all() and (t.loc[~keyed, "item"] == "").all()
    person = t["rule_id"].str.startswith(("PER_", "PAY_GHOST", "PAY_UNPAID", "PAY_ORG", "PAY_SHARED", "HR_",
                                          "EST_MIXED", "LDR_UNCONFIRMED"))
    assert (t.loc[person, "id_number"] != "").all() and (t.loc[~person, "id_number"] == "").all()
    assert t["id_number"].eq(t["id_number"].str.upper()).all()
    # planted findings are spread over regions (several county-level files hold roster anomalies)
    assert t.loc[person, "org_code"].str[2:6].nunique() >= 4


# ------------------------------------------------------------------------------------------ content
def test_normal_ids_valid_and_consistent(in_scope_staff, truth):
    s = in_scope_staff
    s["id"] = s["公民身份号码"].map(norm)
    invalid = set(truth.loc[truth["rule_id"] == "PER_ID_INVALID", "id_number"])
    conflict = set(truth.loc[truth["rule_id"] == "PER_ID_CONFLICT", "id_number"])
    aged = set(truth.loc[truth["rule_id"].isin(["PER_OVERAGE", "PER_UNDERAGE"]), "id_number"])
    normal = s[~s["id"].isin(invalid)]
    valid = ids.validate_ids(normal["id"], AS_OF).to_numpy()
    assert valid.all(), normal.loc[~valid, "id"]
    assert s["id"].isin(invalid).sum() >= 5
    attrs = ids.id_attributes(normal["id"], AS_OF)
    attrs.index = normal.index
    ok = normal[valid & ~normal["id"].isin(conflict)]
    a = attrs.loc[ok.index]
    given_sex = ok["性别"].notna()
    assert (ok.loc[given_sex, "性别"] == a.loc[given_sex, "sex"]).all()
    birth = ok["出生日期"].map(parse_date)
    given = birth.notna()
    assert given.mean() > 0.9
    assert (birth[given] == pd.to_datetime(a.loc[given, "birth_date"]).dt.date).all()
    # ages: 18 or more and below retirement, except the planted ones (and the out-of-scope unit's)
    plain = ~ok["id"].isin(aged)
    age = a.loc[plain, "age"]
    retire = [60 if sx == "男" else (50 if cls == contract.WORKER_CLASS else 55)
              for sx, cls in zip(a.loc[plain, "sex"], ok.loc[plain, "身份类别"], strict=True)]
    assert (age >= 18).all() and (age < pd.Series(retire, index=age.index)).all()
    assert (age >= 20).mean() > 0.99


def parse_date(v) -> dt.date | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    s = str(v).strip()
    for pattern in (r"(\d{4})-(\d{1,2})-(\d{1,2})", r"(\d{4})/(\d{1,2})/(\d{1,2})", r"(\d{4})\.(\d{1,2})\.(\d{1,2})",
                    r"(\d{4})(\d{2})(\d{2})", r"(\d{4})年(\d{1,2})月(\d{1,2})日"):
        m = re.fullmatch(pattern, s)
        if m:
            return dt.date(*map(int, m.groups()))
    raise AssertionError(f"unexpected date text {v!r}")


def test_staff_consistent_with_quotas_and_posts(orgs, staff, truth):
    assert not orgs["code"].duplicated().any()
    s = staff[staff["公民身份号码"].map(lambda v: isinstance(v, str)) & staff["编制类型"].isin(contract.EST_KINDS)]
    s = s.assign(code=s["所在机构代码"].map(norm), id=s["公民身份号码"].map(norm))
    cls = {"工勤编制": {contract.WORKER_CLASS}, "行政编制": {"公务员"}, "政法专项编制": {"公务员"},
           "事业编制": {"参照公务员法管理", "管理人员", "专业技术人员"}}
    assert all(c in cls[k] for k, c in zip(s["编制类型"], s["身份类别"], strict=True))
    actual = s.drop_duplicates(["code", "编制类型", "id"]).groupby(["code", "编制类型"]).size()
    quota = orgs.set_index("code")
    over = {(o, k) for o, k in truth.loc[truth["rule_id"] == "EST_OVER", ["org_code", "item"]].itertuples(index=False)}
    mixed = set(truth.loc[truth["rule_id"] == "EST_MIXED", "org_code"])
    oos = set(orgs.loc[orgs["事业单位类别"] == contract.OUT_OF_SCOPE_PSI, "code"])
    checked = 0
    for (org, kind), n in actual.items():
        if org not in quota.index or org in oos or org in mixed:
            continue
        header = contract.ORGS.column(contract.EST_KINDS[kind]).header
        q = quota.at[org, header]
        q = 0 if q is None or pd.isna(q) else int(q)
        assert (n > q) == ((org, kind) in over), (org, kind, n, q)
        checked += 1
    assert checked > 300
    over = {(o, v) for o, v in truth.loc[truth["rule_id"] == "LDR_OVER", ["org_code", "item"]].itertuples(index=False)}
    lead = s[s["领导职务层次"].isin(contract.LEADER_LEVELS)].drop_duplicates(["code", "领导职务层次", "id"])
    for (org, level), n in lead.groupby(["code", "领导职务层次"]).size().items():
        if org in quota.index and org not in oos:
            p = quota.at[org, contract.ORGS.column(contract.LEADER_LEVELS[level]).header]
            p = 0 if p is None or pd.isna(p) else int(p)
            assert (n > p) == ((org, level) in over), (org, level, n, p)
    assert (orgs["核定行政编制"].isna()).any()  # blank quotas (= 0) present


def test_usccs_valid_except_planted(sample_dir, truth):
    orgs = read_sheets(sample_dir / "inputs", "机构")
    codes = orgs["统一社会信用代码"].map(norm)
    valid = ids.validate_uscc(codes).to_numpy()
    bad = set(codes[~valid])
    planted = set(truth.loc[truth["rule_id"] == "ORG_CODE_INVALID", "org_code"])
    oos = set(codes[(orgs["事业单位类别"] == contract.OUT_OF_SCOPE_PSI).to_numpy()])
    assert planted <= bad and bad <= planted | oos
    assert valid.sum() > 500
    good = codes[valid]
    assert good.str[0].eq("1").all() and good.str[1].isin(["1", "2"]).all()
    inst = (orgs["机构类别"] == contract.PUBLIC_INSTITUTION).to_numpy()[valid]
    assert (good[inst].str[1] == "2").all() and (good[~inst].str[1] == "1").all()
    assert (good.str[2:8] == orgs.loc[valid, "行政区划代码"].map(norm)).mean() > 0.99
    assert orgs["批准文号"].dropna().str.fullmatch(r"\S+编\S*发〔\d{4}〕\d+号|\s+").all()


def test_dirty_variants_present(sample_dir, staff):
    inputs = sample_dir / "inputs"
    idv = staff["公民身份号码"].dropna().map(str)
    assert idv.str.contains("[０-９]").sum() >= 3  # full-width digits
    assert idv.str.endswith("x").sum() >= 3  # lower-case x
    assert (idv != idv.str.strip()).sum() >= 3  # leading / trailing spaces
    assert staff["所在机构代码"].dropna().str.contains("[０-９]").sum() >= 3
    assert staff["姓名"].dropna().str.contains(r"\S\s{2,}\S").sum() >= 2  # inner spaces
    births = staff["出生日期"].dropna()
    assert births.map(lambda v: isinstance(v, dt.datetime)).sum() > 100  # Excel date cells
    text = births[births.map(lambda v: isinstance(v, str))]
    for example, pattern in TEXT_DATE_FORMATS.items():
        assert text.str.fullmatch(pattern).any(), example
    assert staff["领导职务层次"].isna().sum() > 100 and (staff["领导职务层次"] == "无").sum() > 100
    pay = read_sheets(inputs, "财政发放")
    assert pay["公民身份号码"].dropna().map(str).str.endswith("x").any()
    assert pay["公民身份号码"].dropna().map(str).str.contains("[０-９]").any()
    orgs = read_sheets(inputs, "机构")
    assert orgs["核定正职领导职数"].isna().any() and (orgs["核定正职领导职数"] == 0).any()


def test_hr_csv_is_gbk(sample_dir):
    raw = (sample_dir / "inputs/联合审核/人社信息.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    assert text.splitlines()[0].split(",") == [c.header for c in contract.HR.columns]
    assert re.search("[０-９]", text)  # full-width digits survive in GBK


def test_payroll_has_two_months_and_latest_month_ghost_only(sample_dir, staff, truth):
    inputs = sample_dir / "inputs"
    pay = read_sheets(inputs, "财政发放")
    months = pay["发放月份"].map(str)
    assert {"2014-02", "2014-03"} <= set(months)
    pay["id"] = pay["公民身份号码"].map(norm)
    known = set(staff["公民身份号码"].dropna().map(norm)) | set(read_sheets(inputs, "编外人员")["公民身份号码"].map(norm))
    feb_only = set(pay.loc[months == "2014-02", "id"]) - set(pay.loc[months == "2014-03", "id"]) - known
    ghosts = set(truth.loc[truth["rule_id"] == "PAY_GHOST", "id_number"])
    assert feb_only and not feb_only & ghosts
    mar = pay[months == "2014-03"]
    assert mar.groupby("id").size().max() <= 2  # one account per person (paid twice at most)


def test_expected_rejects_point_at_planted_rows(sample_dir, rejects):
    inputs = sample_dir / "inputs"
    assert len(rejects) >= 12
    region_codes = regions.codes()
    for r in rejects.itertuples(index=False):
        path = inputs / r.file
        if path.suffix == ".csv":
            frame = pd.read_csv(path, encoding="gbk", dtype=str, keep_default_na=False)
            value = frame.iloc[r.row - 2][r.column] or None
            header = list(frame.columns)
        else:
            ws = openpyxl.load_workbook(path)[r.sheet]
            header = [c.value for c in ws[1]]
            value = ws.cell(r.row, header.index(r.column) + 1).value
        col = next(c for s in contract.SHEETS if s.name == r.sheet for c in s.columns if c.header == r.column)
        if col.type == contract.ID:
            assert isinstance(value, int | float), (r, value)
        elif col.required and value is None:
            pass  # a required cell left empty
        elif col.codes:
            assert value is not None and norm(value) not in col.codes, (r, value)
        elif col.type == contract.INT:
            assert not (isinstance(value, int) and value >= 0), (r, value)
        elif col.type == contract.DATE:
            assert isinstance(value, str) and parse_date_or_none(value) is None, (r, value)
        elif col.type == contract.REGION:
            assert norm(value) not in region_codes, (r, value)
        elif col.type == contract.MONTH:
            assert not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(value)), (r, value)
        elif col.name == "org_code" and r.sheet == "机构":
            codes = [norm(ws.cell(i, header.index(r.column) + 1).value) for i in range(2, r.row)]
            assert norm(value) in codes, r  # an earlier row has the same key
        else:
            raise AssertionError(f"unchecked reject {r}")


def parse_date_or_none(text: str) -> dt.date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ end to end
def test_intake_and_rules_reproduce_truth(sample_ws, sample_dir, truth, rejects):
    """Loading the sample and running the catalogue gives exactly truth.csv and expected_rejects.csv."""
    from workbench import rules, workspace

    con = workspace.connect(sample_ws, read_only=True)
    try:
        found = rules.latest_findings(con)
        got_rejects = con.execute('SELECT file, sheet, "row", "column" FROM rejects').df()
    finally:
        con.close()
    key = ["rule_id", "org_code", "id_number", "item"]
    got = found[key].fillna("").astype(str).drop_duplicates()
    m = got.merge(truth, how="outer", indicator=True)
    assert m[m["_merge"] != "both"].empty, m[m["_merge"] != "both"].to_string()
    got_rejects["row"] = got_rejects["row"].astype(int)
    exp = rejects[["file", "sheet", "row", "column"]]
    m = got_rejects.drop_duplicates().merge(exp, how="outer", indicator=True)
    assert m[m["_merge"] != "both"].empty, m[m["_merge"] != "both"].to_string()
