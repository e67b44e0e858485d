"""Sample-province generator, part 2: people — citizen IDs, names, birth dates, roster rows.

Everything is drawn vectorised (numpy/pandas); names come from Faker's zh_CN provider lists (drawn
directly, Faker is never called per person).  IDs are valid GB 11643 numbers whose 17th digit and
birth date match the person; they are unique across the whole sample (``taken``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from faker.providers.person.zh_CN import Provider as _Names

from . import contract as C
from . import regions
from .synth_units import id_check_chars

AS_OF = dt.date(2014, 3, 31)
_SURNAMES = np.array(list(_Names.last_names))
_SURNAME_P = np.array(list(_Names.last_names.values()), dtype=float)
_SURNAME_P /= _SURNAME_P.sum()
_MALE = np.array(_Names.first_names_male)
_FEMALE = np.array(_Names.first_names_female)
#: birthplace codes outside Gansu (valid provinces) and retired Gansu county codes (still valid in IDs)
OTHER_PREFIXES = np.array(["110105", "130102", "410105", "510104", "610113", "640104", "630102", "370102",
                           "150102", "320106", "420111", "652801"])
RETIRED_GANSU = np.array(["622421", "622701", "622101", "622201", "622301", "622601", "622801"])
EPOCH = np.datetime64("1970-01-01")


def retirement_age(sex, staff_class) -> np.ndarray:
    """DESIGN §4 (before 2025): 男 60; 女 55, or 50 for 工勤技能人员."""
    sex, staff_class = np.asarray(sex), np.asarray(staff_class)
    return np.where(sex == "男", 60, np.where(staff_class == C.WORKER_CLASS, 50, 55))


def names(rng: np.random.Generator, sex) -> np.ndarray:
    """Surname (frequency-weighted) + one or two given-name characters of the right sex."""
    sex = np.asarray(sex)
    n = len(sex)
    sur = rng.choice(_SURNAMES, n, p=_SURNAME_P)
    g1 = np.where(sex == "男", _MALE[rng.integers(0, len(_MALE), n)], _FEMALE[rng.integers(0, len(_FEMALE), n)])
    g2 = np.where(sex == "男", _MALE[rng.integers(0, len(_MALE), n)], _FEMALE[rng.integers(0, len(_FEMALE), n)])
    two = rng.random(n) < 0.55
    g1 = np.array([a[0] for a in g1])
    g2 = np.array([a[0] for a in g2])
    return np.char.add(sur, np.where(two, np.char.add(g1, g2), g1))


def birth_dates(rng: np.random.Generator, min_age, max_age) -> np.ndarray:
    """datetime64[D] birth dates with completed age at AS_OF in [min_age, max_age] (arrays allowed)."""
    min_age, max_age = np.broadcast_arrays(np.asarray(min_age), np.asarray(max_age))
    n = len(min_age)
    # latest birth: AS_OF - min_age years; earliest: (AS_OF - (max_age + 1) years) + 1 day
    latest = years_before(min_age)
    earliest = years_before(max_age + 1) + np.timedelta64(1, "D")
    span = (latest - earliest).astype(int) + 1
    u = rng.beta(1.6, 1.4, n)  # a little more middle-aged than old
    return earliest + (u * span).astype(int).astype("timedelta64[D]")


def years_before(years) -> np.ndarray:
    """AS_OF minus whole years (29 Feb never occurs since AS_OF is 31 Mar)."""
    y = AS_OF.year - np.asarray(years)
    return (pd.to_datetime(pd.DataFrame({"year": y, "month": AS_OF.month, "day": AS_OF.day}))
            .to_numpy().astype("datetime64[D]"))


def id_numbers(rng: np.random.Generator, prefixes, births, sexes, taken: set[str]) -> np.ndarray:
    """Valid 18-digit IDs (17th digit odd = 男), unique and not in ``taken`` (which is updated)."""
    prefixes = np.asarray(prefixes, dtype="<U6")
    ymd = pd.DatetimeIndex(np.asarray(births, dtype="datetime64[D]")).strftime("%Y%m%d").to_numpy().astype("<U8")
    male = np.asarray(sexes) == "男"
    n = len(prefixes)
    out = np.empty(n, dtype="<U18")
    todo = np.arange(n)
    while len(todo):
        seq = rng.integers(0, 100, len(todo)) * 10 + 2 * rng.integers(0, 5, len(todo)) + male[todo]
        first = np.char.add(np.char.add(prefixes[todo], ymd[todo]), np.char.zfill(seq.astype(str), 3))
        full = np.char.add(first, id_check_chars(first))
        fresh = ~np.array([x in taken for x in full.tolist()], dtype=bool) & ~pd.Series(full).duplicated().to_numpy()
        out[todo[fresh]] = full[fresh]
        taken.update(full[fresh].tolist())
        todo = todo[~fresh]
    return out


def birth_prefixes(rng: np.random.Generator, region_codes) -> np.ndarray:
    """Birthplace codes: mostly the unit's county (or a random Gansu county), some elsewhere."""
    region_codes = np.asarray(region_codes)
    counties = regions.county_level()["region_code"].to_numpy()
    n = len(region_codes)
    is_county = np.isin(region_codes, counties)
    out = np.where(is_county, region_codes, counties[rng.integers(0, len(counties), n)])
    u = rng.random(n)
    out = np.where(u < 0.12, counties[rng.integers(0, len(counties), n)], out)
    out = np.where((u >= 0.12) & (u < 0.16), OTHER_PREFIXES[rng.integers(0, len(OTHER_PREFIXES), n)], out)
    out = np.where((u >= 0.16) & (u < 0.18), RETIRED_GANSU[rng.integers(0, len(RETIRED_GANSU), n)], out)
    return out.astype("<U6")


_POSTS = {
    "公务员": ("科员", "副主任科员", "主任科员", "科长", "副科长", "办事员"),
    "参照公务员法管理": ("科员", "副主任科员", "主任科员", "科长"),
    "管理人员": ("科员", "办事员", "科长", "副科长", "干事"),
    "工勤技能人员": ("驾驶员", "技术工", "普通工", "炊事员"),
}
_TECH = {"hosp": ("医师", "主治医师", "护师", "主管护师", "副主任医师", "药师"),
         "school": ("教师", "一级教师", "二级教师", "高级教师"),
         "other": ("助理工程师", "工程师", "技术员", "农艺师", "会计")}


def staff_class_for(rng: np.random.Generator, kinds, psi) -> np.ndarray:
    """身份类别 consistent with 编制类型 (and 参公 for units that carry administrative functions)."""
    kinds, psi = np.asarray(kinds), np.asarray(psi, dtype=object)
    n = len(kinds)
    inst = np.where(psi == "承担行政职能", "参照公务员法管理",
                    np.where(rng.random(n) < 0.3, "管理人员", "专业技术人员"))
    return np.select([kinds == "工勤编制", kinds == "事业编制"], [C.WORKER_CLASS, inst], "公务员")


def posts(rng: np.random.Generator, staff_class, unit_key, leader_level, chief_title) -> np.ndarray:
    """职务 text by class, unit type and leader level (e.g. 院长 / 副院长 / 主治医师 / 科员)."""
    staff_class = np.asarray(staff_class)
    unit_key = pd.Series(unit_key).astype(str).to_numpy()
    n = len(staff_class)
    out = np.empty(n, dtype=object)
    pick = rng.integers(0, 1000, n)
    for cls, titles in _POSTS.items():
        m = staff_class == cls
        out[m] = np.array(titles)[pick[m] % len(titles)]
    group = np.where(np.char.find(unit_key.astype(str), "hosp") >= 0, "hosp",
                     np.where(np.char.find(unit_key.astype(str), "school") >= 0, "school", "other"))
    group = np.where(np.isin(unit_key, ["tclinic", "cdc", "mch", "tcm", "cancer"])
                     | np.char.startswith(unit_key.astype(str), "tclinic"), "hosp", group)
    for g, titles in _TECH.items():
        m = (staff_class == "专业技术人员") & (group == g)
        out[m] = np.array(titles)[pick[m] % len(titles)]
    lead = np.asarray(leader_level)
    chief = np.asarray(chief_title, dtype=object)
    out = np.where(lead == "正职", chief, out)
    out = np.where(lead == "副职", np.char.add("副", chief.astype(str)), out)
    return out


def entry_dates(rng: np.random.Generator, births) -> np.ndarray:
    """进入本单位时间: after the 18th birthday and after 1978, before AS_OF."""
    births = np.asarray(births, dtype="datetime64[D]")
    lo = np.maximum(births + np.timedelta64(18 * 365 + 5, "D"), np.datetime64("1978-01-01"))
    hi = np.datetime64(AS_OF) - np.timedelta64(30, "D")
    lo = np.minimum(lo, hi)
    span = (hi - lo).astype(int)
    return lo + (rng.random(len(births)) * span).astype(int).astype("timedelta64[D]")


def new_people(rng: np.random.Generator, region_codes, sexes, staff_class, taken: set[str],
               min_age=20, max_age=None, prefixes=None) -> pd.DataFrame:
    """id_number, name, sex, birth_date for people of given sex/class; age in [min_age, retirement)."""
    sexes = np.asarray(sexes)
    if max_age is None:
        max_age = retirement_age(sexes, staff_class) - 1
    min_age, max_age = np.broadcast_arrays(np.asarray(min_age), np.asarray(max_age))
    births = birth_dates(rng, np.resize(min_age, len(sexes)), np.resize(max_age, len(sexes)))
    if prefixes is None:
        prefixes = birth_prefixes(rng, region_codes)
    return pd.DataFrame({
        "id_number": id_numbers(rng, prefixes, births, sexes, taken),
        "name": names(rng, sexes),
        "sex": sexes,
        "birth_date": births,
    })


def roster(rng: np.random.Generator, units: pd.DataFrame, counts: np.ndarray, taken: set[str]) -> pd.DataFrame:
    """Normal staff: ``counts[i]`` people in unit i, kinds/classes consistent, a few leaders per unit."""
    idx = np.repeat(np.arange(len(units)), counts)
    u = units.iloc[idx].reset_index(drop=True)
    n = len(u)
    kinds = u["main_kind"].to_numpy().copy()
    r = rng.random(n)
    kinds = np.where(r < 0.09, "工勤编制", kinds)
    kinds = np.where((u["main_kind"].to_numpy() == "政法专项编制") & (r >= 0.09) & (r < 0.25), "行政编制", kinds)
    classes = staff_class_for(rng, kinds, u["psi_class"].to_numpy())
    sexes = np.where(rng.random(n) < 0.58, "男", "女")
    people = new_people(rng, u["region_code"].to_numpy(), sexes, classes, taken)
    frame = people.assign(org_code=u["org_code"].to_numpy(), est_kind=kinds, staff_class=classes)
    # leaders: in units with ≥ 3 staff, the first non-worker is 正职, the next one or two 副职
    order = np.lexsort((classes == C.WORKER_CLASS, idx))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pd.Series(idx[order]).groupby(idx[order]).cumcount().to_numpy()
    size = counts[idx]
    deputies = np.where(size >= 8, 2, 1)
    eligible = (size >= 3) & (classes != C.WORKER_CLASS)
    level = np.where(eligible & (rank == 0), "正职", np.where(eligible & (rank >= 1) & (rank <= deputies), "副职", C.NO_LEADER))
    frame["leader_level"] = level
    frame["post"] = posts(rng, classes, u["key"].to_numpy(), level, u["chief"].to_numpy())
    frame["entry_date"] = entry_dates(rng, frame["birth_date"].to_numpy())
    return frame
