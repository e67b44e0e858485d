"""Summaries against hand-computed figures on a small hand-made workspace, and against independent pandas
computations on a generated one (roll-up: every parent equals its own units plus the sum of its children)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from workbench import contract, ids, regions, rules, summaries, workspace

FULL_ID = re.compile(r"\d{17}[\dX]")


def uscc(region: str, serial: str) -> str:
    body = "12" + region + serial
    return body + ids.uscc_check_char(body)


def pid(n: int, region: str = "620102") -> str:
    body = f"{region}197001{n % 28 + 1:02d}{n % 1000:03d}"
    return body + ids.id_check_char(body)


U1, U2, U3 = uscc("620102", "MA0000001"), uscc("620100", "MA0000002"), uscc("620000", "MA0000003")
U4, U5, UZ = uscc("620103", "MA0000004"), uscc("620200", "MA0000005"), uscc("620104", "MA0000009")
P = {n: pid(n) for n in range(1, 13)}
GHOST = pid(99, "620105")


def build_hand_ws(path) -> None:
    """Five registered units (one out of scope) + one unregistered code; two payroll months; rules run.

    U1 城关区 620102: 3 行政 on a quota of 2 (EST_OVER), 2 正职 on 1 post (LDR_OVER), 1 工勤 on 1.
    U2 兰州市 620100 (city level, no 批准文号): 1 事业 副职, 1 行政 with no 行政 quota (EST_MIXED).
    U3 省直 620000, 生产经营类 (out of scope), quota 5, one person, paid.
    U4 七里河区 620103: 1 行政 + 1 政法 on quotas of 1 + 1; pays a ghost; one of its staff is dead.
    U5 嘉峪关市 620200 (no counties): 2 事业 on 2; P1 also sits here (PER_DUPLICATE).
    UZ 西固区 620104 is not in 机构: one person.
    """
    con = workspace.connect(path)
    orgs = pd.DataFrame([
        # org, name, region, category, psi, doc, funding, approved_units, actual_units, admin, legal, inst,
        # worker, chief, deputy
        (U1, "城关区甲局", "620102", "政府机关", None, "城编发〔2010〕1号", "财政全额拨款", 3, 4, 2, 0, 0, 1, 1, 1),
        (U2, "兰州市乙中心", "620100", "事业单位", "公益一类", None, "财政全额拨款", 1, 1, 0, 0, 3, 0, 0, 1),
        (U3, "省丙公司", "620000", "事业单位", "生产经营类", "甘编发〔2009〕3号", "自收自支", 0, 0, 0, 0, 5, 0, 0, 0),
        (U4, "七里河区丁局", "620103", "政府机关", None, "七编发〔2011〕2号", "财政差额拨款", 2, 2, 1, 1, 0, 0, 0, 0),
        (U5, "嘉峪关市戊站", "620200", "事业单位", "公益二类", "嘉编发〔2012〕5号", "财政全额拨款", 1, 1, 0, 0, 2, 0, 0, 0),
    ], columns=["org_code", "org_name", "region_code", "org_category", "psi_class", "approval_doc", "funding",
                "approved_units", "actual_units", "quota_admin", "quota_legal", "quota_inst", "quota_worker",
                "approved_chief", "approved_deputy"])
    staff = pd.DataFrame([
        (P[1], "甲一", U1, "行政编制", "公务员", "正职"), (P[2], "甲二", U1, "行政编制", "公务员", "正职"),
        (P[3], "甲三", U1, "行政编制", "公务员", "无"), (P[4], "甲四", U1, "工勤编制", "工勤技能人员", "无"),
        (P[5], "乙一", U2, "事业编制", "管理人员", "副职"), (P[6], "乙二", U2, "行政编制", "管理人员", "无"),
        (P[7], "丙一", U3, "事业编制", "管理人员", "无"),
        (P[8], "丁一", U4, "行政编制", "公务员", "无"), (P[9], "丁二", U4, "政法专项编制", "公务员", "无"),
        (P[10], "戊一", U5, "事业编制", "专业技术人员", "无"), (P[1], "甲一", U5, "事业编制", "专业技术人员", "无"),
        (P[11], "己一", UZ, "事业编制", "管理人员", "无"),
    ], columns=["id_number", "name", "org_code", "est_kind", "staff_class", "leader_level"])
    payroll = pd.DataFrame(
        [(P[n], u, f"ACC{n}", "2014-02") for n, u in ((1, U1), (2, U1), (3, U1), (4, U1), (5, U2))]
        + [(P[n], u, f"ACC{n}", "2014-03") for n, u in ((1, U1), (2, U1), (3, U1), (5, U2), (8, U4), (10, U5),
                                                       (7, U3))]
        + [(GHOST, U4, "ACC99", "2014-03")],
        columns=["id_number", "org_code", "account", "pay_month"])
    police = pd.DataFrame([(P[n], "已死亡" if n == 9 else "一致") for n in range(1, 11)],
                          columns=["id_number", "police_result"])
    hr = pd.DataFrame([(P[n], U1) for n in range(1, 9)], columns=["id_number", "org_code"])
    orgdept = pd.DataFrame([(P[1], U1, "正职"), (P[5], U2, "副职")], columns=["id_number", "org_code", "leader_level"])
    stats = pd.DataFrame([(U1, "行政编制", 2), (U4, "行政编制", 1), (U4, "政法专项编制", 1)],
                         columns=["org_code", "est_kind", "quota"])
    offstaff = pd.DataFrame([(pid(50), U2, "劳务派遣")], columns=["id_number", "org_code", "employment_form"])
    for table, df in (("orgs", orgs), ("staff", staff), ("payroll", payroll), ("police", police), ("hr", hr),
                      ("orgdept", orgdept), ("stats2013", stats), ("offstaff", offstaff)):
        con.register("t_in", df)
        con.execute(f'INSERT INTO "{table}" ({", ".join(df.columns)}) SELECT * FROM t_in')
        con.unregister("t_in")
    con.execute("""INSERT INTO rejects (sheet, "column", reason, region_code, "row") VALUES
        ('人员', '编制类型', '不在代码表中', '620102', 5), ('人员', '编制类型', '不在代码表中', '620102', 6),
        ('财政发放', '发放月份', '日期无法识别', NULL, 3)""")
    rules.run_check(con)
    con.execute("CHECKPOINT")
    con.close()
    workspace.publish(path)


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "ws.duckdb"
    build_hand_ws(path)
    con = workspace.reader(path)
    yield con
    con.close()


def row(df: pd.DataFrame, code: str, **match) -> pd.Series:
    sel = df["region_code"] == code
    for k, v in match.items():
        sel &= df[k] == v
    assert sel.sum() == 1, (code, match)
    return df[sel].iloc[0]


# ------------------------------------------------------------------------------------------ hand-made figures
def test_institutions_by_hand(hand):
    df = summaries.institutions(hand)
    prov = row(df, "620000")
    assert (prov.units, prov.units_out_of_scope, prov.units_unregistered, prov.units_unapproved) == (4, 1, 1, 1)
    assert (prov.approved_units, prov.actual_units, prov.units_excess_internal) == (3 + 1 + 2 + 1, 4 + 1 + 2 + 1, 1)
    lz = row(df, "620100")  # U1 + U2 + U4, unregistered UZ
    assert (lz.units, lz.units_unregistered, lz.approved_units, lz.actual_units) == (3, 1, 6, 7)
    own = row(summaries.institutions(hand, rollup=False), "620100")
    assert (own.units, own.units_unapproved, own.approved_units) == (1, 1, 1)
    assert row(df, "620103").units == 1 and row(df, "620105").units == 0


def test_three_way_by_hand(hand):
    df = summaries.three_way(hand)
    prov = row(df, "620000")
    # quota U1 3 + U2 3 + U4 2 + U5 2 (U3 out of scope); staff per unit 4+2+2+2+1(UZ); paid in 2014-03
    # P1 P2 P3 (U1) + P5 (U2) + P8, ghost (U4) + P10 (U5), P7 of out-of-scope U3 left out
    assert (prov.quota, prov.staff, prov.paid, prov.pay_month) == (10, 11, 7, "2014-03")
    assert not prov.balanced
    lz = row(df, "620100")
    assert (lz.quota, lz.staff, lz.paid, lz.offstaff) == (8, 9, 6, 1)
    qlh = row(df, "620103")
    assert (qlh.quota, qlh.staff, qlh.paid) == (2, 2, 2) and qlh.balanced
    assert summaries.latest_pay_month(hand) == "2014-03"


def test_establishment_and_leaders_by_hand(hand):
    est = summaries.establishment_by_kind(hand)
    assert list(est.loc[est.region_code == "620000", "est_kind"]) == list(contract.EST_KINDS)
    expect = {"行政编制": (3, 5, 1), "政法专项编制": (1, 1, 0), "事业编制": (5, 3, 0), "工勤编制": (1, 1, 0)}
    for kind, (quota, staff, over) in expect.items():
        r = row(est, "620000", est_kind=kind)
        assert (r.quota, r.staff, r.units_over, r["diff"]) == (quota, staff, over, staff - quota), kind
    assert row(est, "620000", est_kind="事业编制").vacancy == 2 + 0  # U2 3-1, U5 2-2
    by_unit = summaries.establishment_by_unit(hand)
    u2 = by_unit[by_unit.org_code == U2].set_index("est_kind")
    assert bool(u2.loc["行政编制", "mixed"]) and not bool(u2.loc["事业编制", "mixed"])
    assert bool(by_unit.set_index(["org_code", "est_kind"]).loc[(U1, "行政编制"), "over"])

    ldr = summaries.leader_posts(hand)
    chief, deputy = row(ldr, "620000", leader_level="正职"), row(ldr, "620000", leader_level="副职")
    assert (chief.approved, chief.held, chief.over, chief.units_over) == (1, 2, 1, 1)
    assert (deputy.approved, deputy.held, deputy.over) == (2, 1, 0)
    lu = summaries.leader_posts_by_unit(hand)
    assert set(zip(lu.org_code, lu.leader_level, lu.held, strict=True)) == {
        (U1, "正职", 2), (U1, "副职", 0), (U2, "副职", 1)}


def test_units_scope_and_region(hand):
    u = summaries.units(hand).set_index("org_code")
    assert not u.loc[U3, "in_scope"] and u.loc[U1, "in_scope"]
    assert not u.loc[UZ, "registered"] and u.loc[UZ, "region_code"] == "620104"
    assert set(summaries.units(hand, "620200").org_code) == {U5}
    with pytest.raises(ValueError, match="行政区划代码不存在"):
        summaries.units(hand, "999999")


# ------------------------------------------------------------------------------------------ findings
def latest(con) -> pd.DataFrame:
    return rules.latest_findings(con)


def in_region(df: pd.DataFrame, code: str | None) -> pd.DataFrame:
    """Independent region filter: a finding sits in its region_code, unknown codes at the province."""
    known = regions.codes()
    sits = df["region_code"].where(df["region_code"].isin(known), "620000")
    return df[sits.isin(set(regions.descendants(code or "620000")))]


@pytest.mark.parametrize("code", [None, "620100", "620102", "620200"])
def test_findings_counts_equal_table(hand, code):
    f = in_region(latest(hand), code)
    assert len(f) > 0
    by_rule = summaries.findings_by_rule(hand, code).set_index("rule_id")
    assert by_rule["findings"].to_dict() == f.groupby("rule_id").size().to_dict()
    assert by_rule["persons"].to_dict() == f.groupby("rule_id")["id_number"].nunique().to_dict()
    sev = summaries.findings_by_severity(hand, code).set_index("severity")["findings"]
    assert sev.to_dict() == {s: int((f["severity"] == s).sum()) for s in contract.SEVERITIES}
    head = summaries.headline(hand, code).iloc[0]
    assert head.findings == len(f)
    assert all(head[f"findings_{s}"] == (f["severity"] == s).sum() for s in contract.SEVERITIES)
    assert len(summaries.findings_list(hand, code)) == len(f)


def test_findings_by_hand(hand):
    f = summaries.findings_list(hand, pii="full")
    keys = set(zip(f.rule_id, f.org_code, f.id_number.fillna(""), f.item.fillna(""), strict=True))
    assert ("EST_OVER", U1, "", "行政编制") in keys and ("LDR_OVER", U1, "", "正职") in keys
    assert ("PER_DECEASED", U4, P[9], "") in keys and ("PAY_GHOST", U4, GHOST, "") in keys
    assert ("ORG_UNKNOWN", UZ, "", "") in keys
    # ORG_UNKNOWN sits in 西固区 (digits 3-8 of its code) and rolls up into 兰州市
    fr = summaries.findings_by_region(hand)
    assert row(fr, "620104").findings == (latest(hand)["region_code"] == "620104").sum() >= 1


def test_findings_list_masks_ids(hand):
    masked = summaries.findings_list(hand)
    full = summaries.findings_list(hand, pii="full")
    assert len(masked) == len(full) and full["id_number"].notna().any()
    text = masked.to_csv()
    assert not FULL_ID.search(text)
    assert masked["id_number"].fillna("").tolist() == [ids.mask_id(v) if isinstance(v, str) else ""
                                                       for v in full["id_number"]]
    assert set(full["id_number"].dropna()) <= set(latest(hand)["id_number"].dropna())
    with pytest.raises(ValueError):
        summaries.findings_list(hand, pii="none")
    crit = summaries.findings_list(hand, severities=["critical"], rules=["PAY_GHOST"])
    assert set(crit.rule_id) == {"PAY_GHOST"} and crit.id_number.iloc[0] == ids.mask_id(GHOST)


# ------------------------------------------------------------------------------------------ four clears
def test_four_clears_by_hand(hand):
    fc = summaries.four_clears(hand)
    assert list(fc.loc[fc.region_code == "620000", "clear"]) == list(contract.CLEARS)
    c = lambda code, clear: row(fc, code, clear=clear)  # noqa: E731
    assert not c("620102", "编制清").passed and c("620102", "编制清").status == "未通过"
    assert not c("620102", "领导职数清").passed
    assert c("620103", "领导职数清").passed and c("620103", "领导职数清").status == "通过"
    assert c("620103", "编制清").passed  # quotas met, paid 2 = quota 2, stats agree
    assert not c("620103", "实有人员清").passed  # deceased P9, ghost
    assert c("620105", "机构清").passed and c("620105", "机构清").findings == 0
    assert "EST_OVER" in c("620000", "编制清").rules


def test_four_clears_against_findings(hand):
    """Per region and clear: findings (info excluded) of the clear's rules, counted independently."""
    f = latest(hand)
    clear_of = {rid: r.clear for rid, r in rules.REGISTRY.items()}
    fc = summaries.four_clears(hand, "620100")
    for _, r in fc.iterrows():
        sub = in_region(f, r.region_code)
        sub = sub[(sub["rule_id"].map(clear_of) == r.clear) & (sub["severity"] != "info")]
        assert r.findings == len(sub), (r.region_code, r.clear)
        assert r.passed == (len(sub) == 0)
    rules_tbl = summaries.clear_rules()
    assert set(rules_tbl.rule_id) == set(rules.REGISTRY)
    assert rules_tbl.groupby("clear").size().to_dict() == pd.Series(clear_of).value_counts().to_dict()


def test_four_clears_not_run(tmp_path):
    """A clear whose rule did not run (its source not loaded) is not 通过 even with no findings."""
    path = tmp_path / "ws.duckdb"
    con = workspace.connect(path)
    con.execute(f"""INSERT INTO orgs (org_code, org_name, region_code, org_category, approval_doc, approved_units,
                    actual_units, quota_admin) VALUES ('{U1}', '甲', '620102', '政府机关', '文', 1, 1, 1)""")
    con.execute(f"INSERT INTO staff (id_number, name, org_code, est_kind, staff_class) "
                f"VALUES ('{P[1]}', '甲一', '{U1}', '行政编制', '公务员')")
    rules.run_check(con)
    fc = summaries.four_clears(con, "620102")
    org = row(fc, "620102", clear="机构清")
    assert org.findings == 0 and not org.passed and org.status == "未完全核查"
    assert "ORG_STAT_MISMATCH" in org.not_run
    est = row(fc, "620102", clear="编制清")  # PAY_OVER_QUOTA needs payroll
    assert est.status == "未完全核查" and "PAY_OVER_QUOTA" in est.not_run
    assert summaries.headline(con, "620102").iloc[0].clears_passed == 0
    con.close()


# ------------------------------------------------------------------------------------------ headline
def test_headline_matches_parts(hand):
    for code in (None, "620100", "620103"):
        h = summaries.headline(hand, code).iloc[0]
        c = code or "620000"
        tw, inst = row(summaries.three_way(hand, code), c), row(summaries.institutions(hand, code), c)
        assert (h.units, h.quota, h.staff, h.paid) == (inst.units, tw.quota, tw.staff, tw.paid)
        fc = summaries.four_clears(hand, code)
        assert h.clears_passed == fc.loc[fc.region_code == c, "passed"].sum()
    every = summaries.headlines(hand).set_index("region_code")
    assert len(every) == len(regions.regions())
    for code in ("620100", "620103", "620200"):
        one = summaries.headline(hand, code).set_index("region_code")
        pd.testing.assert_frame_equal(one, every.loc[[code]], check_dtype=False)
    h = summaries.headline(hand).iloc[0]
    assert (h.region_code, h["name"], h.units, h.units_out_of_scope) == ("620000", "甘肃省", 4, 1)


# ------------------------------------------------------------------------------------------ data quality
def test_source_coverage_by_hand(hand):
    cov = summaries.source_coverage(hand).set_index("table")
    # in-scope roster: P1-P6, P8-P11 (P7 sits in the out-of-scope unit) = 10 ids
    assert cov.loc["police", "roster_ids"] == 10
    assert cov.loc["police", "coverage"] == pytest.approx(9 / 10)   # P11 missing
    assert cov.loc["payroll", "coverage"] == pytest.approx(6 / 10)  # latest month: P1 P2 P3 P5 P8 P10
    assert cov.loc["hr", "coverage"] == pytest.approx(7 / 10)       # P1-P6, P8
    assert cov.loc["orgdept", "coverage"] == pytest.approx(2 / 3)   # leaders P1 P2 P5; P2 not confirmed
    assert cov.loc["orgs", "rows"] == 5 and cov.loc["staff", "rows"] == 12
    assert not cov.loc["onsite_results", "loaded"] and cov.loc["stats2013", "loaded"]
    assert list(cov["sheet"]) == [s.name for s in contract.SHEETS]
    qlh = summaries.source_coverage(hand, "620103").set_index("table")
    assert qlh.loc["staff", "rows"] == 2 and qlh.loc["payroll", "rows"] == 2
    assert qlh.loc["police", "coverage"] == 1.0


def test_rejects_and_rows(hand):
    rej = summaries.rejects_summary(hand)
    assert rej.set_index(["reason", "region_code"])["rejects"].to_dict() == {
        ("不在代码表中", "620102"): 2, ("日期无法识别", "620000"): 1}
    assert summaries.rejects_summary(hand, "620100")["rejects"].sum() == 2
    rows = summaries.rows_by_region(hand)
    prov = row(rows, "620000")
    assert (prov.orgs, prov.staff, prov.payroll) == (5, 12, 13)
    assert row(rows, "620103").payroll == 2


# ------------------------------------------------------------------------------------------ roll-up
def random_ws(path, seed: int = 3, n_units: int = 300) -> pd.DataFrame:
    """Random units in every region (some out of scope, some unregistered), staff, payroll and findings."""
    rng = np.random.default_rng(seed)
    codes = regions.regions()["region_code"].to_numpy()
    region = rng.choice(codes, n_units)
    orgs = pd.DataFrame({
        "org_code": [uscc(r, f"MB{i:07d}") for i, r in enumerate(region)],
        "org_name": [f"单位{i}" for i in range(n_units)], "region_code": region,
        "org_category": "事业单位",
        "psi_class": rng.choice(["公益一类", "公益二类", "生产经营类"], n_units, p=[0.5, 0.4, 0.1]),
        "approval_doc": np.where(rng.random(n_units) < 0.9, "文", None),
        "approved_units": rng.integers(0, 5, n_units), "actual_units": rng.integers(0, 6, n_units),
        "quota_inst": rng.integers(0, 20, n_units), "quota_admin": rng.integers(0, 5, n_units),
    })
    n_staff = 3000
    unit = rng.integers(0, n_units + 20, n_staff)  # codes >= n_units are unregistered
    unreg = [uscc(str(rng.choice(codes)), f"MC{i:07d}") for i in range(20)]
    all_codes = list(orgs["org_code"]) + unreg
    staff = pd.DataFrame({
        "id_number": [pid(i % 1000, str(codes[i % len(codes)])) for i in range(n_staff)],
        "name": "某", "org_code": [all_codes[u] for u in unit],
        "est_kind": rng.choice(list(contract.EST_KINDS), n_staff), "staff_class": "管理人员",
        "leader_level": rng.choice(["正职", "副职", "无"], n_staff, p=[0.05, 0.1, 0.85]),
    })
    pay = staff.sample(frac=0.8, random_state=seed)[["id_number", "org_code"]].assign(pay_month="2014-03")
    findings = pd.DataFrame({
        "run_id": 1, "rule_id": rng.choice(list(rules.REGISTRY), 500),
        "severity": rng.choice(list(contract.SEVERITIES), 500),
        "region_code": np.where(rng.random(500) < 0.05, None, rng.choice(codes, 500)),
        "org_code": rng.choice(all_codes, 500), "id_number": None, "item": None, "title": "t", "detail": "d",
    })
    con = workspace.connect(path)
    for table, df in (("orgs", orgs), ("staff", staff), ("payroll", pay), ("findings", findings)):
        con.register("t_in", df)
        con.execute(f'INSERT INTO "{table}" ({", ".join(df.columns)}) SELECT * FROM t_in')
        con.unregister("t_in")
    con.execute("INSERT INTO finding_runs VALUES (1, now(), now(), DATE '2014-03-31', 'all')")
    con.close()
    return orgs


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "ws.duckdb"
    orgs = random_ws(path)
    con = workspace.connect(path, read_only=True)
    yield con, orgs
    con.close()


def test_rollup_parents_equal_children(generated):
    con, _ = generated
    chk = summaries.rollup_check(con)
    parents = {c for c in regions.regions()["parent_code"].dropna() if c}
    assert set(chk["parent_code"]) == parents
    assert set(chk["metric"]) == set(summaries.ROLLUP_METRICS)
    assert chk["ok"].all(), chk[~chk["ok"]]
    assert (chk["parent_value"] > 0).any()
    city = summaries.rollup_check(con, "620100")
    assert set(city["parent_code"]) == {"620100"}


def test_rollup_against_independent_sums(generated):
    """Rolled-up figures equal sums over the units of each region's descendants (computed in pandas)."""
    con, orgs = generated
    u = summaries.units(con)
    tw = summaries.three_way(con).set_index("region_code")
    inst = summaries.institutions(con).set_index("region_code")
    staff = con.execute("SELECT org_code, count(DISTINCT id_number) n FROM staff GROUP BY 1").df()
    staff_of = dict(zip(staff.org_code, staff.n, strict=True))
    in_scope = orgs[orgs.psi_class != "生产经营类"]
    for code in ("620000", "620100", "620200", "620102", "621200"):
        desc = set(regions.descendants(code))
        mine = in_scope[in_scope.region_code.isin(desc)]
        quota = int((mine.quota_inst + mine.quota_admin).sum())
        assert tw.loc[code, "quota"] == quota
        assert inst.loc[code, "units"] == len(mine)
        assert inst.loc[code, "approved_units"] == mine.approved_units.sum()
        # staff: registered in-scope units + unregistered codes sitting below (digits 3-8 of the code)
        unreg = u[~u.registered & u.region_code.isin(desc)].org_code
        expect_staff = sum(staff_of.get(c, 0) for c in list(mine.org_code) + list(unreg))
        assert tw.loc[code, "staff"] == expect_staff
    f = con.execute("SELECT * FROM findings").df()
    fr = summaries.findings_by_region(con).set_index("region_code")
    assert fr.loc["620000", "findings"] == len(f)
    assert fr.loc["620100", "findings"] == len(in_region(f, "620100"))


def test_children_rows(generated):
    con, _ = generated
    tw = summaries.three_way(con)
    cities = summaries.children_rows(tw)
    assert set(cities.region_code) == set(regions.children("620000"))
    assert summaries.region_rows(tw, "620100").region_code.tolist() == ["620100"]
    assert tw.loc[tw.region_code == "620000", "quota"].iloc[0] == \
        cities["quota"].sum() + summaries.three_way(con, rollup=False).set_index("region_code").loc["620000", "quota"]


# ------------------------------------------------------------------------------------------ sample province
def test_sample_rollup_and_counts(request):
    pytest.importorskip("workbench.synth")
    pytest.importorskip("workbench.intake")
    ws = request.getfixturevalue("sample_ws")
    con = workspace.reader(ws)
    try:
        chk = summaries.rollup_check(con)
        assert chk["ok"].all(), chk[~chk["ok"]]
        f = rules.latest_findings(con)
        assert summaries.headline(con).iloc[0].findings == len(f)
        cities = summaries.children_rows(summaries.findings_by_region(con))
        own = summaries.findings_by_region(con, rollup=False).set_index("region_code").loc["620000", "findings"]
        assert cities["findings"].sum() + own == len(f)
        text = summaries.findings_list(con).to_csv()
        full = set(f["id_number"].dropna())
        assert full and not any(i in text for i in full)
        assert ids.mask_id(sorted(full)[0]) in text
    finally:
        con.close()


# ------------------------------------------------------------------------------------------ persons / units
def test_person_records_masked(hand):
    rec = summaries.person_records(hand, P[1])
    # P1: two 人员 rows (U1, U5), two payroll months, police, HR, 组织部门
    assert rec["sheet"].value_counts().to_dict() == {"人员": 2, "财政发放": 2, "公安核查": 1, "人社信息": 1,
                                                     "组织部门": 1}
    assert set(rec["id_number"]) == {ids.mask_id(P[1])}
    assert not FULL_ID.search(rec.to_csv()) and "ACC1" not in rec.to_csv()
    assert set(rec.loc[rec.sheet == "人员", "org_code"]) == {U1, U5}
    full = summaries.person_records(hand, P[1], pii="full")
    assert set(full["id_number"]) == {P[1]} and full["detail"].str.contains("ACC1").any()
    assert summaries.person_records(hand, GHOST)["sheet"].tolist() == ["财政发放"]


def test_unit_persons_and_org_filters(hand):
    up = summaries.unit_persons(hand, U1)
    assert sorted(up["id_number"]) == sorted(ids.mask_id(P[n]) for n in (1, 2, 3, 4))
    f = rules.latest_findings(hand)
    f1 = f[(f.org_code == U1) & f.id_number.notna()]
    assert up["findings"].sum() == len(f1)
    tw = summaries.three_way_by_unit(hand, org_codes=[U1, U4])
    assert set(tw.org_code) == {U1, U4} and tw.set_index("org_code").loc[U4, "paid"] == 2
    assert set(summaries.establishment_by_unit(hand, org_codes=U1).org_code) == {U1}
    assert set(summaries.leader_posts_by_unit(hand, org_codes=[U2]).org_code) == {U2}
    fl = summaries.findings_list(hand, org_codes=[U1, U4])
    assert len(fl) == f.org_code.isin([U1, U4]).sum()
    assert len(summaries.findings_list(hand, id_number=P[9], pii="full")) == (f.id_number == P[9]).sum() >= 1
