"""Statutory retirement age as policy data (DESIGN §4), joined by the PER_OVERAGE rule in SQL.

Two policies, chosen by the campaign's as_of:

* before 2025-01-01: 男 60; 女 55 for 公务员/参照公务员法管理/管理人员/专业技术人员; 女 50 for 工勤技能人员;
* from 2025-01-01 (全国人大常委会《关于实施渐进式延迟法定退休年龄的决定》, 2024): by birth month, the age
  rises one month for every four birth months (男 60→63 from the 1965-01 cohort, 女 55→58 from the 1970-01
  cohort) or every two birth months (女 50→55 from the 1975-01 cohort).

Everything is expressed in months so the rule compares a person's completed months of age at as_of with
``retire_months`` from :func:`cohort_table` (one row per group × birth month, an equality join).

Groups: ``male`` (every 男), ``female_worker`` (女 with 身份类别 工勤技能人员) and ``female_cadre`` (every other
女, **including a missing or unknown 身份类别**: the higher age of the two female groups is used so an unknown
class never produces an over-age finding the person's real class might not support).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from . import contract

GROUPS = ("male", "female_cadre", "female_worker")
REFORM_START = dt.date(2025, 1, 1)
FIRST_COHORT = dt.date(1900, 1, 1)  # no valid ID is born earlier (DESIGN §4)


@dataclass(frozen=True)
class Rise:
    """A gradual rise: from birth month ``first_cohort`` on, +1 month per ``step`` birth months, up to ``max_extra``."""

    first_cohort: dt.date
    step: int
    max_extra: int


@dataclass(frozen=True)
class Policy:
    """Retirement ages (months) per group, and the gradual rise per group (None = fixed age)."""

    name: str
    effective_from: dt.date | None
    base_months: dict[str, int]
    rises: dict[str, Rise]


BEFORE_2025 = Policy(
    name="2025年前法定退休年龄",
    effective_from=None,
    base_months={"male": 60 * 12, "female_cadre": 55 * 12, "female_worker": 50 * 12},
    rises={},
)
FROM_2025 = Policy(
    name="渐进式延迟法定退休年龄（2025年1月1日起）",
    effective_from=REFORM_START,
    base_months={"male": 60 * 12, "female_cadre": 55 * 12, "female_worker": 50 * 12},
    rises={
        "male": Rise(dt.date(1965, 1, 1), 4, 36),
        "female_cadre": Rise(dt.date(1970, 1, 1), 4, 36),
        "female_worker": Rise(dt.date(1975, 1, 1), 2, 60),
    },
)
POLICIES = (BEFORE_2025, FROM_2025)


def policy_for(as_of: dt.date) -> Policy:
    """The policy in force on as_of."""
    chosen = POLICIES[0]
    for p in POLICIES:
        if p.effective_from is None or p.effective_from <= as_of:
            chosen = p
    return chosen


def group_of(sex: str | None, staff_class: str | None) -> str | None:
    """Retirement group for a sex (from the ID) and 身份类别; None when the sex is unknown."""
    if sex == "男":
        return "male"
    if sex == "女":
        return "female_worker" if staff_class == contract.WORKER_CLASS else "female_cadre"
    return None


def _month_index(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def retirement_months(policy: Policy, group: str, birth: dt.date) -> int:
    """Retirement age in months for one birth date under a policy."""
    months = policy.base_months[group]
    rise = policy.rises.get(group)
    if rise is not None:
        k = _month_index(birth) - _month_index(rise.first_cohort)
        if k >= 0:
            months += min(rise.max_extra, k // rise.step + 1)
    return months


def cohort_table(as_of: dt.date) -> pd.DataFrame:
    """group, birth_month (first day of the month), retire_months — every month from 1900-01 to as_of's month."""
    policy = policy_for(as_of)
    first, last = _month_index(FIRST_COHORT), _month_index(as_of)
    rows = []
    for group in GROUPS:
        for m in range(first, last + 1):
            birth = dt.date(m // 12, m % 12 + 1, 1)
            rows.append((group, birth, retirement_months(policy, group, birth)))
    frame = pd.DataFrame(rows, columns=["grp", "birth_month", "retire_months"])
    frame["birth_month"] = pd.to_datetime(frame["birth_month"]).dt.date
    return frame


def age_months(birth: dt.date, as_of: dt.date) -> int:
    """Completed months of age at as_of (same day rule as DESIGN §4's completed years)."""
    return (as_of.year - birth.year) * 12 + as_of.month - birth.month - (1 if as_of.day < birth.day else 0)


def is_over_age(sex: str | None, staff_class: str | None, birth: dt.date, as_of: dt.date) -> bool:
    """Scalar form of the PER_OVERAGE test (for tests and single lookups)."""
    group = group_of(sex, staff_class)
    if group is None:
        return False
    return age_months(birth, as_of) >= retirement_months(policy_for(as_of), group, birth)


def describe_months(months: int) -> str:
    """720 -> '60周岁', 721 -> '60周岁1个月'."""
    years, rest = divmod(int(months), 12)
    return f"{years}周岁" + (f"{rest}个月" if rest else "")


#: SQL for completed months of age, consistent with ``age_months`` (and with wb_age at whole years).
AGE_MONTHS_MACRO = """
CREATE OR REPLACE TEMP MACRO wb_age_months(birth, as_of) AS
    (year(CAST(as_of AS DATE)) - year(birth)) * 12 + month(CAST(as_of AS DATE)) - month(birth)
    - CASE WHEN day(CAST(as_of AS DATE)) < day(birth) THEN 1 ELSE 0 END;
"""
