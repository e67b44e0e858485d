"""Hand-made edge cases for every rule of DESIGN §5 (rows inserted straight into a real workspace)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from workbench import contract, ids, rules
from workbench import workspace as wsp

AS_OF = dt.date(2014, 3, 31)
UNIT_A, UNIT_B, UNIT_OOS = 1, 2, 3


# ------------------------------------------------------------------------------------------------ helpers
def pid(birth: str = "19800101", sex: str = "男", seq: int = 1, region: str = "620102") -> str:
    """A valid citizen ID with the given birth date (YYYYMMDD) and sex."""
    digit = (2 * seq + (1 if sex == "男" else 0)) % 10
    s17 = f"{region}{birth}{seq % 100:02d}{digit}"
    return s17 + ids.id_check_char(s17)


def uscc(serial: int, region: str = "620102") -> str:
    s17 = f"12{region}{serial:09d}"
    return s17 + ids.uscc_check_char(s17)


def org(serial: int, **kw) -> dict:
    row = {"org_code": uscc(serial), "org_name": f"单位{serial}", "region_code": "620102", "org_category": "政府机关",
           "approval_doc": f"甘编发〔2010〕{serial}号", "funding": "财政全额拨款", "approved_units": 0, "actual_units": 0,
           "quota_admin": 0, "quota_legal": 0, "quota_inst": 0, "quota_worker": 0,
           "approved_chief": 0, "approved_deputy": 0}
    if serial == UNIT_OOS:
        row.update(org_category="事业单位", psi_class=contract.OUT_OF_SCOPE_PSI)
    row.update(kw)
    return row


def person(id_number: str, unit: int | str = UNIT_A, **kw) -> dict:
    row = {"id_number": id_number, "name": "张三", "org_code": uscc(unit) if isinstance(unit, int) else unit,
           "est_kind": "行政编制", "staff_class": "公务员", "leader_level": "无"}
    row.update(kw)
    return row


def add(con, table: str, *rows: dict) -> None:
    frame = pd.DataFrame(list(rows))
    con.register("_rows_in", frame)
    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _rows_in')
    con.unregister("_rows_in")


def check(con, *rule_ids: str) -> pd.DataFrame:
    """Run the given rules and return their findings of the latest run."""
    rules.run_check(con, list(rule_ids) or None)
    found = rules.latest_findings(con)
    return found[found["rule_id"].isin(rule_ids)] if rule_ids else found


def keys(frame: pd.DataFrame) -> set[tuple]:
    return {(r.rule_id, r.org_code, r.id_number if isinstance(r.id_number, str) else "",
             r.item if isinstance(r.item, str) else "") for r in frame.itertuples()}


def status(con) -> dict[str, tuple[str, str | None]]:
    st = rules.latest_status(con)
    return {r.rule_id: (r.status, r.reason if isinstance(r.reason, str) else None) for r in st.itertuples()}


@pytest.fixture
def con(tmp_path):
    c = wsp.connect(tmp_path / "ws.duckdb")
    yield c
    c.close()


# ------------------------------------------------------------------------------------------------ registry
def test_registry_has_the_catalogue_of_design_section_5():
    expected = {
        "ORG_UNAPPROVED": ("擅自设立机构", "high"), "ORG_EXCESS_INTERNAL": ("超设内设机构", "medium"),
        "ORG_OUT_OF_SCOPE": ("生产经营类事业单位不纳入核查", "info"), "ORG_CODE_INVALID": ("统一社会信用代码无效", "medium"),
        "ORG_UNKNOWN": ("人员所在机构未登记", "high"), "ORG_STAT_MISMATCH": ("核定编制与2013年统计不一致", "medium"),
        "EST_OVER": ("超编", "high"), "EST_MIXED": ("混编混岗", "medium"), "LDR_OVER": ("超职数配备领导", "high"),
        "LDR_UNCONFIRMED": ("领导职务与组织部门记录不符", "medium"), "PER_ID_INVALID": ("公民身份号码无效", "high"),
        "PER_ID_CONFLICT": ("性别或出生日期与身份证号码不符", "low"), "PER_DUPLICATE": ("一人多处在编", "critical"),
        "PER_POLICE_MISMATCH": ("公安核查姓名不符或号码不存在", "high"), "PER_DECEASED": ("死亡或注销人员仍在编", "critical"),
        "PER_OVERAGE": ("超过法定退休年龄仍在职", "high"), "PER_UNDERAGE": ("未满18周岁", "medium"),
        "PAY_GHOST": ("财政发放但不在实名库（吃空饷疑点）", "critical"), "PAY_UNPAID": ("在编人员无财政发放记录", "medium"),
        "PAY_ORG_MISMATCH": ("工资发放单位与在编单位不一致", "medium"), "PAY_SHARED_ACCOUNT": ("多人共用工资账户", "high"),
        "PAY_OVER_QUOTA": ("财政供养人数超过核定编制", "high"), "HR_MISSING": ("人社无在职记录", "low"),
    }
    assert list(rules.REGISTRY) == list(expected)
    assert {k: (r.title_zh, r.severity) for k, r in rules.REGISTRY.items()} == expected
    clears = rules.by_clear()
    assert clears[contract.CLEAR_ORG] == [k for k in expected if k.startswith("ORG_")]
    assert clears[contract.CLEAR_EST] == ["EST_OVER", "EST_MIXED", "PAY_OVER_QUOTA"]
    assert clears[contract.CLEAR_LEADER] == ["LDR_OVER", "LDR_UNCONFIRMED"]
    assert set(clears[contract.CLEAR_PERSON]) == {k for k in expected if k.startswith("PER_")} | {
        "PAY_GHOST", "PAY_UNPAID", "PAY_ORG_MISMATCH", "PAY_SHARED_ACCOUNT", "HR_MISSING"}
    assert all(r.title_en and r.sources and r.version for r in rules.REGISTRY.values())


def test_catalogue_markdown_lists_every_rule():
    md = rules.catalogue_markdown()
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| rule_id")]
    assert [ln.split("|")[1].strip() for ln in lines] == list(rules.REGISTRY)
    assert "| EST_OVER | 超编 |" in md


def test_unknown_rule_id_is_refused_in_chinese(con):
    with pytest.raises(ValueError, match="未知的规则编号：NOPE"):
        rules.run_check(con, ["NOPE"])


# ------------------------------------------------------------------------------------------------ 机构清
def test_org_unapproved_blank_or_spaces_and_not_out_of_scope(con):
    add(con, "orgs", org(UNIT_A, approval_doc=None), org(UNIT_B, approval_doc="  "), org(4),
        org(UNIT_OOS, approval_doc=None))
    assert keys(check(con, "ORG_UNAPPROVED")) == {("ORG_UNAPPROVED", uscc(UNIT_A), "", ""),
                                                  ("ORG_UNAPPROVED", uscc(UNIT_B), "", "")}


def test_org_excess_internal_at_and_above_approval(con):
    add(con, "orgs", org(UNIT_A, approved_units=5, actual_units=5), org(UNIT_B, approved_units=5, actual_units=7),
        org(4, approved_units=None, actual_units=1), org(UNIT_OOS, approved_units=0, actual_units=3))
    found = check(con, "ORG_EXCESS_INTERNAL")
    assert keys(found) == {("ORG_EXCESS_INTERNAL", uscc(UNIT_B), "", ""), ("ORG_EXCESS_INTERNAL", uscc(4), "", "")}
    assert "核定内设机构5个，实有7个，超设2个" in set(found["detail"])


def test_org_out_of_scope_only_production_units(con):
    add(con, "orgs", org(UNIT_A), org(UNIT_OOS), org(4, org_category="事业单位", psi_class="公益二类"))
    found = check(con, "ORG_OUT_OF_SCOPE")
    assert keys(found) == {("ORG_OUT_OF_SCOPE", uscc(UNIT_OOS), "", "")}
    assert found["severity"].tolist() == ["info"]


def test_org_code_invalid(con):
    bad = uscc(UNIT_B)[:-1] + ("0" if uscc(UNIT_B)[-1] != "0" else "1")
    bad_oos = uscc(UNIT_OOS)[:-1] + ("0" if uscc(UNIT_OOS)[-1] != "0" else "1")
    add(con, "orgs", org(UNIT_A), {**org(UNIT_B), "org_code": bad}, {**org(UNIT_OOS), "org_code": bad_oos},
        {**org(5), "org_code": "ABC"})
    found = check(con, "ORG_CODE_INVALID")
    assert keys(found) == {("ORG_CODE_INVALID", bad, "", ""), ("ORG_CODE_INVALID", "ABC", "", "")}


def test_org_unknown_from_each_source_with_region_fallback(con):
    unknown_staff, unknown_pay = uscc(11, region="620402"), uscc(12, region="621102")
    add(con, "orgs", org(UNIT_A), org(UNIT_OOS))
    add(con, "staff", person(pid(seq=1), unknown_staff), person(pid(seq=2), UNIT_A), person(pid(seq=3), UNIT_OOS))
    add(con, "offstaff", {"id_number": pid(seq=4), "org_code": "XYZ", "employment_form": "劳务派遣"})
    add(con, "payroll", {"id_number": pid(seq=2), "org_code": unknown_pay, "pay_month": "2014-03"},
        {"id_number": pid(seq=2), "org_code": uscc(13), "pay_month": "2014-02"})  # an older month does not count
    found = check(con, "ORG_UNKNOWN")
    assert keys(found) == {("ORG_UNKNOWN", c, "", "") for c in (unknown_staff, unknown_pay, "XYZ")}
    region = dict(zip(found["org_code"], found["region_code"], strict=True))
    assert region[unknown_staff] == "620402" and region[unknown_pay] == "621102" and pd.isna(region["XYZ"])


def test_org_stat_mismatch_per_kind_for_units_in_both(con):
    add(con, "orgs", org(UNIT_A, quota_admin=10, quota_inst=None), org(UNIT_OOS, quota_inst=3))
    add(con, "stats2013",
        {"org_code": uscc(UNIT_A), "est_kind": "行政编制", "quota": 10},
        {"org_code": uscc(UNIT_A), "est_kind": "事业编制", "quota": 2},  # blank quota = 0
        {"org_code": uscc(UNIT_A), "est_kind": "工勤编制", "quota": 0},
        {"org_code": uscc(UNIT_OOS), "est_kind": "事业编制", "quota": 4},
        {"org_code": uscc(9), "est_kind": "行政编制", "quota": 4})  # not in 机构
    found = check(con, "ORG_STAT_MISMATCH")
    assert keys(found) == {("ORG_STAT_MISMATCH", uscc(UNIT_A), "", "事业编制")}


# ------------------------------------------------------------------------------------------------ 编制清
def test_est_over_exactly_at_quota_and_one_above(con):
    add(con, "orgs", org(UNIT_A, quota_inst=2), org(UNIT_B, quota_inst=2))
    add(con, "staff", *[person(pid(seq=i), UNIT_A, est_kind="事业编制") for i in range(2)],
        *[person(pid(seq=10 + i), UNIT_B, est_kind="事业编制") for i in range(3)])
    found = check(con, "EST_OVER")
    assert keys(found) == {("EST_OVER", uscc(UNIT_B), "", "事业编制")}
    assert found["detail"].tolist() == ["核定事业编制2名，实有3名，超编1名"]


def test_est_over_counts_distinct_normalised_ids(con):
    x = pid(birth="19791010", sex="女", seq=7)
    add(con, "orgs", org(UNIT_A, quota_admin=1))
    variant = x.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
    add(con, "staff", person(x, UNIT_A), person(variant, UNIT_A), person(f" {x.lower()} ", UNIT_A))
    assert check(con, "EST_OVER").empty
    add(con, "staff", person(pid(seq=8), UNIT_A))
    assert keys(check(con, "EST_OVER")) == {("EST_OVER", uscc(UNIT_A), "", "行政编制")}


def test_quota_zero_with_staff_is_mixed_not_over(con):
    add(con, "orgs", org(UNIT_A, quota_admin=3, quota_worker=0))
    add(con, "staff", person(pid(seq=1), UNIT_A, est_kind="工勤编制", staff_class="工勤技能人员"),
        person(pid(seq=2), UNIT_A, est_kind="工勤编制", staff_class="工勤技能人员"), person(pid(seq=3), UNIT_A))
    found = check(con, "EST_OVER", "EST_MIXED")
    assert keys(found) == {("EST_MIXED", uscc(UNIT_A), pid(seq=1), ""), ("EST_MIXED", uscc(UNIT_A), pid(seq=2), "")}


def test_est_rules_ignore_units_missing_from_orgs_or_out_of_scope(con):
    add(con, "orgs", org(UNIT_OOS, quota_inst=0), org(UNIT_A, quota_inst=1))
    add(con, "staff", *[person(pid(seq=i), UNIT_OOS, est_kind="事业编制") for i in range(3)],
        *[person(pid(seq=10 + i), 9, est_kind="事业编制") for i in range(3)])
    assert check(con, "EST_OVER", "EST_MIXED").empty


def test_pay_over_quota_distinct_paid_ids_against_sum_of_quotas(con):
    add(con, "orgs", org(UNIT_A, quota_admin=1, quota_worker=1), org(UNIT_B, quota_admin=2), org(UNIT_OOS))
    add(con, "payroll",
        *[{"id_number": pid(seq=i), "org_code": uscc(UNIT_A), "pay_month": "2014-03"} for i in range(3)],
        *[{"id_number": pid(seq=10), "org_code": uscc(UNIT_B), "pay_month": "2014-03"} for _ in range(3)],
        *[{"id_number": pid(seq=20 + i), "org_code": uscc(UNIT_B), "pay_month": "2014-02"} for i in range(5)],
        *[{"id_number": pid(seq=30 + i), "org_code": uscc(UNIT_OOS), "pay_month": "2014-03"} for i in range(2)])
    found = check(con, "PAY_OVER_QUOTA")
    assert keys(found) == {("PAY_OVER_QUOTA", uscc(UNIT_A), "", "")}
    assert found["detail"].tolist() == ["核定编制合计2名，2014-03财政发放3人，超出1人"]


# ------------------------------------------------------------------------------------------------ 领导职数清
def test_ldr_over_with_zero_approved_posts(con):
    add(con, "orgs", org(UNIT_A, approved_chief=0, approved_deputy=2), org(UNIT_B, approved_chief=1))
    add(con, "staff", person(pid(seq=1), UNIT_A, leader_level="正职"), person(pid(seq=2), UNIT_A, leader_level="副职"),
        person(pid(seq=3), UNIT_A, leader_level="副职"), person(pid(seq=4), UNIT_B, leader_level="正职"),
        person(pid(seq=5), UNIT_B, leader_level=None))
    found = check(con, "LDR_OVER")
    assert keys(found) == {("LDR_OVER", uscc(UNIT_A), "", "正职")}
    assert found["detail"].tolist() == ["核定正职领导职数0名，实配1名，超配1名"]


def test_ldr_unconfirmed_needs_same_id_unit_and_level(con):
    a, b, c, d = (pid(seq=i) for i in range(1, 5))
    add(con, "staff", person(a, UNIT_A, leader_level="正职"), person(b, UNIT_A, leader_level="副职"),
        person(c, UNIT_A, leader_level="副职"), person(d, UNIT_A, leader_level="无"))
    add(con, "orgdept", {"id_number": a, "org_code": uscc(UNIT_A), "leader_level": "正职"},
        {"id_number": b, "org_code": uscc(UNIT_A), "leader_level": "正职"},
        {"id_number": c, "org_code": uscc(UNIT_B), "leader_level": "副职"},
        {"id_number": d, "org_code": uscc(UNIT_A), "leader_level": "副职"})
    assert keys(check(con, "LDR_UNCONFIRMED")) == {("LDR_UNCONFIRMED", uscc(UNIT_A), b, ""),
                                                   ("LDR_UNCONFIRMED", uscc(UNIT_A), c, "")}


# ------------------------------------------------------------------------------------------------ 实有人员清
def test_per_id_invalid_variants(con):
    good = pid(seq=1)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    future = pid(birth="20150101", seq=2)
    old15 = "620102800101001"
    bad_province = pid(region="990102", seq=3)
    lower_x = next(p for p in (pid(birth="19850505", seq=s) for s in range(50)) if p.endswith("X"))
    add(con, "staff", *(person(x) for x in (good, bad_check, future, old15, bad_province, lower_x.lower())))
    found = check(con, "PER_ID_INVALID")
    assert keys(found) == {("PER_ID_INVALID", uscc(UNIT_A), x, "") for x in (bad_check, future, old15, bad_province)}
    assert set(found["detail"]) >= {"校验码错误", "15位旧号码，已停止使用"}


def test_per_id_conflict_only_for_valid_ids(con):
    valid = pid(birth="19800101", sex="男", seq=1)
    invalid = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    add(con, "staff", person(valid, sex="女"), person(invalid, UNIT_B, sex="女", birth_date=dt.date(1970, 1, 1)),
        person(pid(seq=2), sex=None, birth_date=None), person(pid(seq=3), sex="男", birth_date=dt.date(1980, 1, 1)),
        person(pid(seq=4), birth_date=dt.date(1980, 1, 2)))
    found = check(con, "PER_ID_CONFLICT")
    assert keys(found) == {("PER_ID_CONFLICT", uscc(UNIT_A), valid, ""), ("PER_ID_CONFLICT", uscc(UNIT_A), pid(seq=4), "")}
    assert "登记性别女，身份证号码显示为男" in set(found["detail"])


def test_id_both_duplicated_and_deceased(con):
    x, y = pid(seq=1), pid(seq=2)
    add(con, "orgs", org(UNIT_A), org(UNIT_B), org(UNIT_OOS))
    add(con, "staff", person(x, UNIT_A), person(x.replace("X", "x"), UNIT_B), person(y, UNIT_A), person(y, UNIT_OOS))
    add(con, "police", {"id_number": x, "police_result": "已死亡"}, {"id_number": y, "police_result": "一致"})
    found = check(con, "PER_DUPLICATE", "PER_DECEASED")
    assert keys(found) == {(r, uscc(u), x, "") for r in ("PER_DUPLICATE", "PER_DECEASED") for u in (UNIT_A, UNIT_B)}
    assert set(found["severity"]) == {"critical"}


def test_duplicate_within_one_unit_is_one_finding(con):
    x = pid(seq=1)
    add(con, "staff", person(x, UNIT_A), person(x, UNIT_A, est_kind="事业编制"))
    assert keys(check(con, "PER_DUPLICATE")) == {("PER_DUPLICATE", uscc(UNIT_A), x, "")}


def test_police_mismatch_and_deceased_results(con):
    ids_ = [pid(seq=i) for i in range(5)]
    add(con, "staff", *(person(x) for x in ids_))
    add(con, "police", *({"id_number": x, "police_result": r}
                         for x, r in zip(ids_, ("一致", "姓名不一致", "号码不存在", "已死亡", "已注销"), strict=True)))
    found = check(con, "PER_POLICE_MISMATCH", "PER_DECEASED")
    assert keys(found) == {("PER_POLICE_MISMATCH", uscc(UNIT_A), ids_[1], ""), ("PER_POLICE_MISMATCH", uscc(UNIT_A), ids_[2], ""),
                           ("PER_DECEASED", uscc(UNIT_A), ids_[3], ""), ("PER_DECEASED", uscc(UNIT_A), ids_[4], "")}


def test_overage_and_underage_boundaries(con):
    on_60 = pid(birth="19540331", sex="男", seq=1)      # 60th birthday on as_of
    eve_60 = pid(birth="19540401", sex="男", seq=2)     # turns 60 the day after as_of
    woman_55 = pid(birth="19590331", sex="女", seq=3)   # cadre woman, 55 on as_of
    worker_50 = pid(birth="19640331", sex="女", seq=4)  # 工勤 woman, 50 on as_of
    worker_49 = pid(birth="19640401", sex="女", seq=5)
    on_18 = pid(birth="19960331", seq=6)
    eve_18 = pid(birth="19960401", seq=7)
    add(con, "staff", person(on_60), person(eve_60), person(woman_55, staff_class="专业技术人员"),
        person(worker_50, staff_class="工勤技能人员", est_kind="工勤编制"),
        person(worker_49, staff_class="工勤技能人员", est_kind="工勤编制"),
        person(pid(birth="19640331", sex="女", seq=8), staff_class="管理人员"), person(on_18), person(eve_18))
    found = check(con, "PER_OVERAGE", "PER_UNDERAGE")
    assert keys(found) == {("PER_OVERAGE", uscc(UNIT_A), x, "") for x in (on_60, woman_55, worker_50)} | {
        ("PER_UNDERAGE", uscc(UNIT_A), eve_18, "")}


def test_overage_leap_day_birth(con):
    man = pid(birth="19520229", sex="男", seq=1)    # 60 on 2012-02-29 (a leap year)
    woman = pid(birth="19560229", sex="女", seq=2)  # cadre: 55 in 2011, no 29 Feb: only from 1 March
    add(con, "staff", person(man), person(woman, staff_class="管理人员"))
    expected = {"2011-02-28": set(), "2011-03-01": {woman}, "2012-02-28": {woman},
                "2012-02-29": {woman, man}}
    for as_of, who in expected.items():
        wsp.set_setting(con, "as_of", as_of)
        assert keys(check(con, "PER_OVERAGE")) == {("PER_OVERAGE", uscc(UNIT_A), x, "") for x in who}, as_of


def test_overage_after_2025_uses_the_gradual_rise(con):
    wsp.set_setting(con, "as_of", "2026-06-30")
    man_1965_12 = pid(birth="19651215", sex="男", seq=1)  # 60y3m -> retires 2026-03-15: over
    man_1966_05 = pid(birth="19660510", sex="男", seq=2)  # 60y5m -> retires 2026-10-10: not yet
    man_1966_02 = pid(birth="19660201", sex="男", seq=3)  # 60y4m -> retires 2026-06-01: over
    add(con, "staff", person(man_1965_12), person(man_1966_05), person(man_1966_02))
    assert keys(check(con, "PER_OVERAGE")) == {("PER_OVERAGE", uscc(UNIT_A), x, "") for x in (man_1965_12, man_1966_02)}


def test_pay_rules_use_only_the_latest_month(con):
    paid, unpaid_now, ghost_old, ghost_now, off = (pid(seq=i) for i in range(1, 6))
    add(con, "orgs", org(UNIT_A), org(UNIT_B, funding="财政差额拨款"))
    add(con, "staff", person(paid, UNIT_A), person(unpaid_now, UNIT_A), person(pid(seq=9), UNIT_B))
    add(con, "offstaff", {"id_number": off, "org_code": uscc(UNIT_A), "employment_form": "合同聘用"})
    add(con, "payroll",
        {"id_number": paid, "org_code": uscc(UNIT_A), "pay_month": "2014-03"},
        {"id_number": unpaid_now, "org_code": uscc(UNIT_A), "pay_month": "2014-02"},
        {"id_number": ghost_old, "org_code": uscc(UNIT_A), "pay_month": "2014-02"},
        {"id_number": ghost_now, "org_code": uscc(UNIT_A), "pay_month": "2014-03"},
        {"id_number": off, "org_code": uscc(UNIT_A), "pay_month": "2014-03"})
    found = check(con, "PAY_GHOST", "PAY_UNPAID")
    assert keys(found) == {("PAY_GHOST", uscc(UNIT_A), ghost_now, ""), ("PAY_UNPAID", uscc(UNIT_A), unpaid_now, "")}


def test_pay_org_mismatch_and_full_width_payroll_ids(con):
    a, b, c = pid(seq=1), pid(seq=2), pid(seq=3)
    wide = a.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    add(con, "staff", person(a, UNIT_A), person(b, UNIT_A), person(b, UNIT_B), person(c, UNIT_A))
    add(con, "payroll", {"id_number": wide, "org_code": uscc(UNIT_A), "pay_month": "2014-03"},
        {"id_number": b, "org_code": uscc(UNIT_A), "pay_month": "2014-03"},
        {"id_number": c, "org_code": uscc(UNIT_B), "pay_month": "2014-03"},
        {"id_number": c, "org_code": uscc(UNIT_A), "pay_month": "2014-02"})
    found = check(con, "PAY_ORG_MISMATCH", "PAY_GHOST")
    assert keys(found) == {("PAY_ORG_MISMATCH", uscc(UNIT_B), b, ""), ("PAY_ORG_MISMATCH", uscc(UNIT_A), c, "")}


def test_pay_shared_account(con):
    a, b, c = pid(seq=1), pid(seq=2), pid(seq=3)
    add(con, "payroll", {"id_number": a, "org_code": uscc(UNIT_A), "account": "6222001", "pay_month": "2014-03"},
        {"id_number": b, "org_code": uscc(UNIT_B), "account": "6222001", "pay_month": "2014-03"},
        {"id_number": c, "org_code": uscc(UNIT_A), "account": "6222003", "pay_month": "2014-03"},
        {"id_number": c, "org_code": uscc(UNIT_A), "account": "6222003", "pay_month": "2014-03"},
        {"id_number": c, "org_code": uscc(UNIT_A), "account": "6222001", "pay_month": "2014-02"},
        {"id_number": a, "org_code": uscc(UNIT_A), "account": None, "pay_month": "2014-03"},
        {"id_number": b, "org_code": uscc(UNIT_A), "account": None, "pay_month": "2014-03"})
    found = check(con, "PAY_SHARED_ACCOUNT")
    assert keys(found) == {("PAY_SHARED_ACCOUNT", uscc(UNIT_A), a, ""), ("PAY_SHARED_ACCOUNT", uscc(UNIT_B), b, "")}
    assert all("由2个不同身份证号码共用" in d for d in found["detail"])


def test_hr_missing(con):
    a, b = pid(seq=1), pid(seq=2)
    add(con, "staff", person(a), person(b))
    add(con, "hr", {"id_number": a.lower(), "org_code": uscc(UNIT_B)})
    assert keys(check(con, "HR_MISSING")) == {("HR_MISSING", uscc(UNIT_A), b, "")}


# ------------------------------------------------------------------------------------------------ scope, regions, runs
def test_out_of_scope_unit_appears_only_in_org_out_of_scope(con):
    """An out-of-scope unit carrying every anomaly: only ORG_OUT_OF_SCOPE reports it."""
    x = pid(birth="19400101", seq=1)
    bad = x[:-1] + ("0" if x[-1] != "0" else "1")
    add(con, "orgs", org(UNIT_OOS, approval_doc=None, actual_units=3, quota_inst=0, approved_chief=0), org(UNIT_A))
    add(con, "staff", person(x, UNIT_OOS, est_kind="事业编制", leader_level="正职", sex="女"),
        person(x, UNIT_OOS), person(bad, UNIT_OOS), person(pid(birth="20000101", seq=2), UNIT_OOS))
    add(con, "stats2013", {"org_code": uscc(UNIT_OOS), "est_kind": "事业编制", "quota": 5})
    add(con, "police", {"id_number": x, "police_result": "已死亡"}, {"id_number": bad, "police_result": "号码不存在"})
    add(con, "payroll", *({"id_number": pid(seq=10 + i), "org_code": uscc(UNIT_OOS), "account": "1", "pay_month": "2014-03"}
                          for i in range(3)),
        {"id_number": pid(seq=20), "org_code": uscc(UNIT_A), "account": "9", "pay_month": "2014-03"})
    add(con, "hr", {"id_number": pid(seq=20), "org_code": uscc(UNIT_A)})
    add(con, "orgdept", {"id_number": pid(seq=20), "org_code": uscc(UNIT_A), "leader_level": "正职"})
    found = check(con)
    assert all(s == "ran" for s, _ in status(con).values())
    assert set(found.loc[found["org_code"] == uscc(UNIT_OOS), "rule_id"]) == {"ORG_OUT_OF_SCOPE"}
    assert not set(found["id_number"].dropna()) & {x, bad}


def test_person_rules_see_staff_of_units_missing_from_orgs_with_region_fallback(con):
    add(con, "orgs", org(UNIT_A))
    unknown = uscc(5, region="620502")
    add(con, "staff", person(pid(birth="19400101", seq=1), unknown), person(pid(birth="19400101", seq=2), "NOT-A-USCC"))
    found = check(con, "PER_OVERAGE")
    region = found.set_index("org_code")["region_code"]
    assert region[unknown] == "620502" and pd.isna(region["NOT-A-USCC"])


def test_region_code_is_the_units(con):
    add(con, "orgs", org(UNIT_A, region_code="620902", approval_doc=None))
    add(con, "staff", person(pid(birth="19400101", seq=1), UNIT_A))
    found = check(con, "ORG_UNAPPROVED", "PER_OVERAGE")
    assert set(found["region_code"]) == {"620902"}


def test_rules_with_an_empty_source_are_not_run(con):
    add(con, "staff", person(pid(seq=1)))
    found = check(con)
    st = status(con)
    for rid in ("PER_POLICE_MISMATCH", "PER_DECEASED", "HR_MISSING", "PAY_GHOST", "EST_OVER", "LDR_UNCONFIRMED",
                "ORG_UNKNOWN", "ORG_STAT_MISMATCH"):
        assert st[rid][0] == "not run" and "未导入" in st[rid][1], rid
    assert "公安核查" in st["PER_DECEASED"][1] and "人社信息" in st["HR_MISSING"][1]
    assert st["PER_ID_INVALID"] == ("ran", None)
    assert found.empty  # nobody is flagged for a source that is missing


def test_run_is_stored_with_status_and_chosen_rules(con):
    add(con, "orgs", org(UNIT_A, approval_doc=None))
    first = rules.run_check(con, ["ORG_UNAPPROVED"])
    second = rules.run_check(con, ["ORG_UNAPPROVED", "ORG_OUT_OF_SCOPE"])
    assert second == first + 1
    run = con.execute("SELECT run_id, as_of, rules, finished_at >= started_at FROM finding_runs WHERE run_id = ?",
                      [second]).fetchone()
    assert run == (second, AS_OF, "ORG_UNAPPROVED,ORG_OUT_OF_SCOPE", True)
    st = con.execute("SELECT rule_id, version, status, findings, reason FROM rule_status WHERE run_id = ?"
                     " AND rule_id IN ('ORG_UNAPPROVED', 'ORG_OUT_OF_SCOPE') ORDER BY rule_id", [second]).fetchall()
    assert st == [("ORG_OUT_OF_SCOPE", rules.CATALOGUE_VERSION, "ran", 0, None),
                  ("ORG_UNAPPROVED", rules.CATALOGUE_VERSION, "ran", 1, None)]
    assert con.execute("SELECT count(*) FROM findings WHERE run_id = ?", [first]).fetchone()[0] == 1
    assert list(rules.latest_findings(con).columns) == list(contract.FINDING_COLUMNS)


def test_partial_run_refreshes_only_its_rules(con):
    add(con, "orgs", org(UNIT_A, approval_doc=None, quota_admin=0))
    add(con, "staff", person(pid(seq=1), UNIT_A))
    full = rules.run_check(con)
    assert keys(rules.latest_findings(con)) == {("ORG_UNAPPROVED", uscc(UNIT_A), "", ""),
                                                ("EST_MIXED", uscc(UNIT_A), pid(seq=1), "")}
    con.execute("UPDATE orgs SET approval_doc = '甘编发〔2011〕1号', quota_admin = 1")
    part = rules.run_check(con, ["EST_MIXED"])
    assert keys(rules.latest_findings(con)) == {("ORG_UNAPPROVED", uscc(UNIT_A), "", "")}  # carried forward
    st = rules.latest_status(con).set_index("rule_id")
    assert len(st) == len(rules.REGISTRY)
    assert st.loc["EST_MIXED", "status"] == "ran" and pd.isna(st.loc["EST_MIXED", "reason"])
    assert f"沿用第{full}批次结果" in st.loc["ORG_UNAPPROVED", "reason"]
    assert con.execute("SELECT rules FROM finding_runs WHERE run_id = ?", [part]).fetchone()[0] == "EST_MIXED"


def test_run_check_on_a_path_publishes_the_snapshot(tmp_path):
    path = tmp_path / "ws.duckdb"
    with wsp.writer(path) as c:
        add(c, "orgs", org(UNIT_A, approval_doc=None))
    run_id = rules.run_check(path)
    with wsp.reader(path) as r:
        assert rules.latest_run_id(r) == run_id
        assert keys(rules.latest_findings(r)) == {("ORG_UNAPPROVED", uscc(UNIT_A), "", "")}


def test_base_validity_equals_wb_id_valid(con):
    """The run computes validity from wb_id_birth/wb_id_check_ok once; it must equal wb_id_valid."""
    samples = [pid(seq=1), pid(birth="19000101", seq=2), pid(birth="18991231", seq=3), pid(birth="20140331", seq=4),
               pid(birth="20140401", seq=5), pid(region="100102", seq=6), pid(birth="19810229", seq=7),
               pid(birth="19800229", seq=8), "620102800101001", "62010219800101001", "abc", pid(seq=9)[:-1] + "Y"]
    add(con, "staff", *(person(s) for s in samples))
    rules.run_check(con, ["PER_ID_INVALID"])
    flagged = set(rules.latest_findings(con)["id_number"])
    expected = {s for s, ok in zip(samples, ids.validate_ids(samples, AS_OF), strict=True) if not ok}
    assert flagged == {s.upper() for s in expected}


def test_base_attributes_equal_the_ids_macros(con):
    """Sex, birth date and age of the per-run person table equal ids.id_attributes (wb_id_sex, wb_id_birth, wb_age)."""
    samples = [pid(birth=b, sex=s, seq=i) for i, (b, s) in enumerate(
        [("19800101", "男"), ("19800101", "女"), ("19520229", "女"), ("19960401", "男"), ("19540331", "女")])]
    add(con, "staff", *(person(s) for s in samples))
    from workbench import derived
    from workbench.rules import prepare

    derived.complete(con)  # rows inserted by hand: normalised and keyed as intake would
    prepare.install(con)
    params = {"as_of": AS_OF, "pay_month": None}
    prepare.build_all(con, ["wb_person"], params)
    got = con.execute("SELECT wb_id_text(k) AS id, CASE WHEN male THEN '男' ELSE '女' END AS id_sex, id_birth, age"
                      " FROM wb_person ORDER BY id").df()
    want = ids.id_attributes(sorted(samples), AS_OF)
    assert got["id_sex"].tolist() == want["sex"].tolist()
    assert got["id_birth"].tolist() == want["birth_date"].tolist()
    assert got["age"].tolist() == want["age"].tolist()


def test_finding_keys_decode_to_the_exact_texts(con):
    """Rules group on integer keys; the stored finding carries the ID and unit code texts, leading zeros,
    malformed IDs and unregistered codes included."""
    zero = "0" + pid(seq=1)[1:]  # well-formed shape, no such province: a non-negative key with a leading zero
    odd = ["12345", "62010219800101001Y", "ABC-1"]  # malformed: hash keys, texts looked up
    unknown, other = uscc(21, region="620402"), "NOT-A-USCC"
    add(con, "orgs", org(UNIT_A))
    add(con, "staff", person(zero), *(person(x) for x in odd),
        person(pid(seq=2), unknown), person(pid(seq=3), unknown), person(pid(seq=4), other))
    add(con, "payroll", {"id_number": pid(seq=2), "org_code": unknown, "pay_month": "2014-03"},  # same unit
        {"id_number": pid(seq=3), "org_code": other, "pay_month": "2014-03"},  # another unregistered unit
        {"id_number": "ghost-1", "org_code": other, "pay_month": "2014-03"})
    found = check(con, "PER_ID_INVALID", "PAY_ORG_MISMATCH", "PAY_GHOST")
    assert keys(found) == ({("PER_ID_INVALID", uscc(UNIT_A), x, "") for x in [zero, *odd]}
                           | {("PAY_ORG_MISMATCH", unknown, pid(seq=3), ""), ("PAY_GHOST", other, "GHOST-1", "")})
    mismatch = found[found["rule_id"] == "PAY_ORG_MISMATCH"].iloc[0]
    assert mismatch["detail"] == f"财政发放单位为{other}，与在编单位不一致" and mismatch["region_code"] == "620402"


def test_a_unit_code_loaded_twice_counts_once_with_the_first_loaded_row(con):
    add(con, "orgs", {**org(UNIT_A, quota_admin=1), "_load_id": 2, "_row": 2},
        {**org(UNIT_A, quota_admin=5, approval_doc=None), "_load_id": 1, "_row": 9})
    add(con, "staff", person(pid(seq=1)), person(pid(seq=2)))
    found = check(con, "EST_OVER", "ORG_UNAPPROVED")
    assert keys(found) == {("ORG_UNAPPROVED", uscc(UNIT_A), "", "")}  # load 1's row: quota 5, no approval


def test_a_failing_run_leaves_the_workspace_as_it_was(con, monkeypatch):
    """A rule failing mid-run rolls everything back: no run, no findings, no per-run table left behind."""
    from workbench.rules.registry import REGISTRY, Rule

    add(con, "staff", person(pid(birth="19400101", seq=1)))
    first = rules.run_check(con)
    before = rules.latest_findings(con)
    broken = Rule(id="ZZ_BROKEN", title_zh="故障", title_en="broken", severity="low", clear=contract.CLEAR_PERSON,
                  key="org, id", sources=("staff",), uses=("wb_staff",),
                  query="SELECT uk, k, NULL AS item, error('boom') AS detail FROM wb_staff")
    monkeypatch.setitem(REGISTRY, broken.id, broken)
    with pytest.raises(Exception, match="boom"):
        rules.run_check(con)
    assert rules.latest_run_id(con) == first
    pd.testing.assert_frame_equal(rules.latest_findings(con), before)
    left = ("SELECT count(*) FROM (SELECT table_name FROM duckdb_tables() WHERE temporary"
            " UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND view_name LIKE 'wb_%')")
    assert con.execute(left).fetchall()[0][0] == 0
    monkeypatch.delitem(REGISTRY, broken.id)
    assert rules.run_check(con) == first + 1 and not rules.latest_findings(con).empty
    assert con.execute(left).fetchall()[0][0] == 0  # a successful run drops them too


def test_readme_documents_the_catalogue():
    """README.md carries the rule table generated by rules.catalogue_markdown() (regenerate it when rules change)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert rules.catalogue_markdown() in readme


def test_pay_ghost_without_offstaff_runs_and_says_so(con):
    add(con, "staff", person(pid(seq=1)))
    add(con, "payroll", {"id_number": pid(seq=2), "org_code": uscc(UNIT_A), "pay_month": "2014-03"})
    assert keys(check(con, "PAY_GHOST")) == {("PAY_GHOST", uscc(UNIT_A), pid(seq=2), "")}
    assert status(con)["PAY_GHOST"] == ("ran", "未导入编外人员，未与其比对")
