"""Retirement policy data (DESIGN §4): pre-2025 ages, the 2024 decision's gradual rise, boundaries."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from workbench import retirement as r

D = dt.date


def test_policy_is_chosen_by_as_of():
    assert r.policy_for(D(2014, 3, 31)) is r.BEFORE_2025
    assert r.policy_for(D(2024, 12, 31)) is r.BEFORE_2025
    assert r.policy_for(D(2025, 1, 1)) is r.FROM_2025


@pytest.mark.parametrize(("group", "birth", "months"), [
    # before 2025 nobody's age depends on the cohort
    ("male", D(1970, 6, 1), 720), ("female_cadre", D(1975, 1, 1), 660), ("female_worker", D(1980, 1, 1), 600),
])
def test_before_2025_fixed_ages(group, birth, months):
    assert r.retirement_months(r.BEFORE_2025, group, birth) == months


@pytest.mark.parametrize(("group", "birth", "months"), [
    # annex tables of the 2024 decision (改革后法定退休年龄)
    ("male", D(1964, 12, 31), 720),            # before the first cohort: 60
    ("male", D(1965, 1, 1), 721), ("male", D(1965, 4, 30), 721),   # 1965-01..04: 60岁1个月
    ("male", D(1965, 5, 1), 722),                                   # 1965-05..08: 60岁2个月
    ("male", D(1976, 8, 31), 755), ("male", D(1976, 9, 1), 756),   # 1976-09..12: 63岁
    ("male", D(1990, 1, 1), 756),
    ("female_cadre", D(1969, 12, 31), 660), ("female_cadre", D(1970, 1, 1), 661),
    ("female_cadre", D(1981, 9, 1), 696), ("female_cadre", D(1995, 1, 1), 696),  # 58岁
    ("female_worker", D(1974, 12, 31), 600), ("female_worker", D(1975, 1, 1), 601),
    ("female_worker", D(1975, 2, 28), 601), ("female_worker", D(1975, 3, 1), 602),  # every two months
    ("female_worker", D(1984, 10, 31), 659), ("female_worker", D(1984, 11, 1), 660),  # 55岁
])
def test_from_2025_gradual_rise(group, birth, months):
    assert r.retirement_months(r.FROM_2025, group, birth) == months


def test_groups_and_unknown_staff_class():
    assert r.group_of("男", "工勤技能人员") == "male"
    assert r.group_of("女", "工勤技能人员") == "female_worker"
    assert r.group_of("女", "专业技术人员") == "female_cadre"
    assert r.group_of("女", None) == "female_cadre"  # documented: the higher female age when the class is unknown
    assert r.group_of(None, "公务员") is None


@pytest.mark.parametrize(("birth", "as_of", "over"), [
    (D(1954, 3, 31), D(2014, 3, 31), True),    # 60th birthday exactly on as_of
    (D(1954, 4, 1), D(2014, 3, 31), False),    # the day before the 60th birthday
    (D(1952, 2, 29), D(2012, 2, 28), False),   # 29 February birth, the day before
    (D(1952, 2, 29), D(2012, 2, 29), True),
    (D(1965, 1, 15), D(2025, 1, 15), False),   # first 2025 cohort: 60y1m, not 60y
    (D(1965, 1, 15), D(2025, 2, 14), False),
    (D(1965, 1, 15), D(2025, 2, 15), True),
    (D(1965, 1, 31), D(2025, 2, 28), False),   # day rule: 28 < 31, the month is not complete
    (D(1965, 1, 31), D(2025, 3, 1), True),
])
def test_male_boundaries(birth, as_of, over):
    assert r.is_over_age("男", "公务员", birth, as_of) is over


def test_female_worker_2025_cohort():
    birth = D(1975, 3, 10)  # 50岁2个月 -> 2025-05-10
    assert not r.is_over_age("女", "工勤技能人员", birth, D(2025, 5, 9))
    assert r.is_over_age("女", "工勤技能人员", birth, D(2025, 5, 10))
    assert not r.is_over_age("女", "管理人员", birth, D(2025, 5, 10))


def test_age_months_sql_macro_matches_python():
    con = duckdb.connect()
    con.execute(r.AGE_MONTHS_MACRO)
    cases = [(D(1952, 2, 29), D(2012, 2, 28)), (D(1952, 2, 29), D(2012, 2, 29)), (D(1965, 1, 31), D(2025, 2, 28)),
             (D(1980, 12, 1), D(2014, 3, 31)), (D(1980, 3, 31), D(2014, 3, 31)), (D(1980, 4, 1), D(2014, 3, 31))]
    for birth, as_of in cases:
        got = con.execute("SELECT wb_age_months(?::DATE, ?::DATE)", [birth, as_of]).fetchone()[0]
        assert got == r.age_months(birth, as_of), (birth, as_of)
    assert r.age_months(D(1954, 3, 31), D(2014, 3, 31)) == 720
    assert r.age_months(D(1954, 4, 1), D(2014, 3, 31)) == 719


def test_cohort_table_is_joinable_and_complete():
    table = r.cohort_table(D(2026, 6, 30))
    assert list(table.columns) == ["grp", "birth_month", "retire_months"]
    assert len(table) == 3 * ((2026 - 1900) * 12 + 6)
    assert not table.duplicated(["grp", "birth_month"]).any()
    row = table[(table["grp"] == "male") & (table["birth_month"] == D(1965, 12, 1))]
    assert row["retire_months"].tolist() == [723]
    assert r.describe_months(723) == "60周岁3个月" and r.describe_months(720) == "60周岁"
