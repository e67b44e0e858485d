"""Sample-province generator, part 3: the world state and the planted anomalies with their truth.

``World`` holds the generated tables in canonical form (normalised IDs and codes).  Normal rows are
built so that no rule of DESIGN §5 fires on them (valid IDs and ages, everyone in HR and 一致 with the
police, leaders confirmed by 组织部门, full-funded staff paid by their own unit, unique accounts, quotas
and posts with headroom).  Every ``plant_*`` function adds anomalies at known places and records the
findings they must produce in ``World.truth`` — the truth comes from these decisions, never from
running rule logic over the tables.  Each planting is documented where it is made.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from . import contract as C
from . import regions
from .synth_people import (
    birth_prefixes,
    entry_dates,
    id_numbers,
    names,
    new_people,
    posts,
    staff_class_for,
)
from .synth_units import OUT_OF_SCOPE_UNITS, describe_units, id_check_chars, make_usccs, uscc_check_chars

FEB, MAR = "2014-02", "2014-03"
KINDS = tuple(C.EST_KINDS)
STAFF_COLS = ["id_number", "name", "sex", "birth_date", "org_code", "est_kind", "staff_class", "post",
              "leader_level", "entry_date"]
FLAG_COLS = ["hr", "hr_org", "police", "police_name", "pay_feb", "pay_mar", "odept", "odept_org",
             "odept_level", "sex_out", "birth_out", "id_out", "tag"]


def d64(text: str) -> np.datetime64:
    return np.datetime64(text, "D")


@dataclasses.dataclass
class World:
    """All generated tables (canonical values) plus the planting bookkeeping."""

    rng: np.random.Generator
    units: pd.DataFrame
    staff: pd.DataFrame
    offstaff: pd.DataFrame
    taken_ids: set
    taken_codes: set
    new_rows: list = dataclasses.field(default_factory=list)
    new_off: list = dataclasses.field(default_factory=list)
    pay_extra: list = dataclasses.field(default_factory=list)  # dict(id, name, org, month, account?)
    account_override: dict = dataclasses.field(default_factory=dict)  # (id, month) -> account ('' = blank)
    truth: list = dataclasses.field(default_factory=list)
    quota_lock: dict = dataclasses.field(default_factory=dict)  # (org, kind) -> over | exact | zero
    exact_all: set = dataclasses.field(default_factory=set)  # units whose quotas equal actual (no balancing)
    post_lock: dict = dataclasses.field(default_factory=dict)  # (org, level) -> over
    stats_delta: dict = dataclasses.field(default_factory=dict)  # (org, kind) -> 核定数 - quota
    stats_extra: list = dataclasses.field(default_factory=list)  # extra 2013统计 rows
    unknown: dict = dataclasses.field(default_factory=dict)  # unknown org code -> region code (file)
    used: set = dataclasses.field(default_factory=set)  # exclusively planted units
    hosted: set = dataclasses.field(default_factory=set)  # units holding a planted person
    blank_cells: list = dataclasses.field(default_factory=list)  # (org, column) written blank (meaning 0)
    whitespace_doc: set = dataclasses.field(default_factory=set)
    _order: list = dataclasses.field(default_factory=list)
    _rec: dict | None = None
    round: int = 0  # planting round (large samples repeat the planting block, see synth.rounds)
    _host_pos: int = 0

    # ---------------------------------------------------------------------------- bookkeeping
    def find(self, rule: str, org: str, id_number: str | None = None, item: str | None = None) -> None:
        """Record one finding the rules must return (canonical org code / ID)."""
        self.truth.append((rule, org, id_number or "", item or ""))

    def unit(self, org: str) -> dict:
        """The unit's attributes (cached; the cache is dropped whenever units change)."""
        if self._rec is None:
            self._rec = {r["org_code"]: r for r in self.units.to_dict("records")}
        return self._rec[org]

    def order(self) -> list[str]:
        """In-scope units interleaved across regions (1st unit of each region, then 2nd, …), shuffled."""
        if not self._order:
            u = self.units[self.units["in_scope"]].copy()
            u["r"] = self.rng.random(len(u))
            u = u.sort_values(["region_code", "r"])
            u["k"] = u.groupby("region_code").cumcount()
            reg = {c: i for i, c in enumerate(self.rng.permutation(u["region_code"].unique()))}
            u["ro"] = u["region_code"].map(reg)
            self._order = u.sort_values(["k", "ro"])["org_code"].tolist()
        return self._order

    def take(self, pred=None) -> str:
        """A unit reserved for one unit-level planting (never reused, never a host)."""
        for code in self.order():
            if code in self.used or code in self.hosted:
                continue
            if pred is None or pred(self.unit(code)):
                self.used.add(code)
                return code
        raise RuntimeError("no unit left for planting")

    def host(self, pred=None) -> str:
        """A unit to hold a planted person: cycles through regions, skips reserved units."""
        order = self.order()
        for step in range(2 * len(order)):
            code = order[(self._host_pos + step) % len(order)]
            if code in self.used or (pred is not None and not pred(self.unit(code))):
                continue
            self._host_pos = (self._host_pos + step + 1) % len(order)
            self.hosted.add(code)
            return code
        raise RuntimeError("no host unit")

    def region_of(self, org: str) -> str:
        if org in self.unknown:
            return self.unknown[org]
        return self.unit(org)["region_code"]

    # ---------------------------------------------------------------------------- adding people
    def add_staff(self, org: str, n: int = 1, *, kind=None, staff_class=None, sex=None, birth=None,
                  min_age=25, max_age=None, leader=C.NO_LEADER, id_number=None, tag="", **flags) -> pd.DataFrame:
        """n planted roster rows in ``org`` (normal unless overridden); flags override the defaults."""
        rng = self.rng
        known = org not in self.unknown
        u = self.unit(org) if known else None
        kind = kind or (u["main_kind"] if known else "行政编制")
        psi = u["psi_class"] if known else None
        sexes = np.array([sex] * n) if sex else np.where(rng.random(n) < 0.55, "男", "女")
        classes = np.array([staff_class] * n) if staff_class else staff_class_for(rng, [kind] * n, [psi] * n)
        if birth is not None:
            births = np.array([d64(birth)] * n)
            people = pd.DataFrame({"id_number": id_numbers(rng, birth_prefixes(rng, [self.region_of(org)] * n),
                                                           births, sexes, self.taken_ids),
                                   "name": names(rng, sexes), "sex": sexes, "birth_date": births})
        else:
            people = new_people(rng, [self.region_of(org)] * n, sexes, classes, self.taken_ids,
                                min_age=min_age, max_age=max_age)
        if id_number is not None:
            people["id_number"] = id_number
            self.taken_ids.add(id_number)
        rows = people.assign(org_code=org, est_kind=kind, staff_class=classes, leader_level=leader)
        chief = u["chief"] if known else "主任"
        rows["post"] = posts(rng, classes, [u["key"] if known else "x"] * n, [leader] * n, [chief] * n)
        rows["entry_date"] = entry_dates(rng, rows["birth_date"].to_numpy())
        defaults = {"hr": True, "hr_org": org, "police": "一致", "police_name": rows["name"].to_numpy(),
                    "pay_feb": org, "pay_mar": org, "odept": leader != C.NO_LEADER, "odept_org": org,
                    "odept_level": leader, "sex_out": rows["sex"].to_numpy(),
                    "birth_out": rows["birth_date"].to_numpy(), "id_out": None, "tag": tag}
        defaults.update(flags)
        for k, v in defaults.items():
            rows[k] = v if not isinstance(v, list | tuple) else [v[i % len(v)] for i in range(n)]
        self.new_rows.append(rows)
        return rows

    def add_offstaff(self, org: str, n: int = 1, *, source="财政") -> pd.DataFrame:
        sexes = np.where(self.rng.random(n) < 0.5, "男", "女")
        p = new_people(self.rng, [self.region_of(org)] * n, sexes, ["管理人员"] * n, self.taken_ids, min_age=22,
                       max_age=45)
        rows = pd.DataFrame({"id_number": p["id_number"], "name": p["name"], "org_code": org,
                             "employment_form": "合同聘用", "funding_source": source,
                             "start_date": d64("2012-09-01")})
        self.new_off.append(rows)
        return rows

    def ghost(self, org: str, months=(FEB, MAR), id_number: str | None = None) -> str:
        """A payroll-only person (in neither 人员 nor 编外人员) paid by ``org``."""
        sexes = np.array(["男"])
        if id_number is None:
            p = new_people(self.rng, [self.region_of(org)], sexes, ["公务员"], self.taken_ids)
            id_number, name = p["id_number"].iloc[0], p["name"].iloc[0]
        else:
            name = names(self.rng, sexes)[0]
            self.taken_ids.add(id_number)
        for m in months:
            self.pay_extra.append({"id_number": id_number, "name": name, "org_code": org, "pay_month": m})
        return id_number

    def recode(self, old: str, new: str) -> None:
        """Give a unit another code everywhere (used for the planted invalid USCCs)."""
        for col in ("org_code", "parent_org_code"):
            self.units[col] = self.units[col].where(self.units[col] != old, new)
        for col in ("org_code", "hr_org", "pay_feb", "pay_mar", "odept_org"):
            self.staff[col] = self.staff[col].where(self.staff[col] != old, new)
        self.offstaff["org_code"] = self.offstaff["org_code"].where(self.offstaff["org_code"] != old, new)
        self._rec = None
        self._order = [new if c == old else c for c in self._order]
        self.used = {new if c == old else c for c in self.used}

    def fresh_code(self, region: str, inst: bool = True) -> str:
        return make_usccs(self.rng, ["2" if inst else "1"], [region], self.taken_codes)[0]

    def flush(self) -> None:
        """Append the planted rows to the roster / off-staff tables."""
        if self.new_rows:
            self.staff = pd.concat([self.staff, *self.new_rows], ignore_index=True)
            self.new_rows = []
        if self.new_off:
            self.offstaff = pd.concat([self.offstaff, *self.new_off], ignore_index=True)
            self.new_off = []


def default_flags(rng: np.random.Generator, staff: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Flags of normal roster rows: in HR, police 一致, confirmed leaders, paid per the unit's funding."""
    funding = staff["org_code"].map(units.set_index("org_code")["funding"])
    paid = (funding == C.FULL_FUNDING) | ((funding == "财政差额拨款") & (rng.random(len(staff)) < 0.65))
    payer = staff["org_code"].where(paid, None)
    return staff.assign(hr=True, hr_org=staff["org_code"], police="一致", police_name=staff["name"],
                        pay_feb=payer, pay_mar=payer, odept=staff["leader_level"] != C.NO_LEADER,
                        odept_org=staff["org_code"], odept_level=staff["leader_level"], sex_out=staff["sex"],
                        birth_out=staff["birth_date"], id_out=None, tag="")


# ================================================================================== planting
def in_scope_full(u) -> bool:
    return u["funding"] == C.FULL_FUNDING


def is_leaf(w: World):
    parents = set(w.units["parent_org_code"].dropna())
    return lambda u: u["org_code"] not in parents


def _with_x(w: World, region: str, sex: str, birth: str) -> str:
    """A valid ID whose check character is X (to plant lower-case x variants)."""
    base = d64(birth)
    for seq in range(1000):
        if (seq % 2 == 1) != (sex == "男"):
            continue
        pre = birth_prefixes(w.rng, [region])[0]
        first = f"{pre}{str(base).replace('-', '')}{seq:03d}"
        if id_check_chars([first])[0] == "X" and first + "X" not in w.taken_ids:
            w.taken_ids.add(first + "X")
            return first + "X"
    raise RuntimeError("no X id")


def plant_out_of_scope(w: World) -> None:
    """ORG_OUT_OF_SCOPE: three 生产经营类 units (province, a city's own level, a county) — only that finding.

    Their staff carry anomalies that must NOT be reported: overage, invalid ID, missing from HR, police
    已死亡 / 姓名不一致, over quota, a 正职 beyond 0 posts and unconfirmed, a shared account, a ghost on
    their payroll, a person mixed into an empty kind, a 2013统计 mismatch, a same-unit duplicate, an
    underage person, an ID/sex conflict; one has no approval document, one more internal units than
    approved, one an invalid USCC.
    """
    reg = regions.regions()
    county = w.units.loc[w.units["level"] == "county", "region_code"].iloc[int(w.rng.integers(0, 50))]
    city = reg.loc[(reg["level"] == "city") & (reg["region_code"] != "620200"), "region_code"].iloc[
        int(w.rng.integers(0, 13))]
    rows = []
    for level, code in (("province", "620000"), ("city", city), ("county", county)):
        name = OUT_OF_SCOPE_UNITS[level].format(r=regions.name_of(code))
        parent = w.units.loc[(w.units["region_code"] == code) & (w.units["key"] == "gov"), "org_code"]
        rows.append({"key": "biz", "org_category": C.PUBLIC_INSTITUTION, "psi_class": C.OUT_OF_SCOPE_PSI,
                     "main_kind": "事业编制", "funding": "自收自支", "parent_key": "gov", "weight": 1.0,
                     "chief": "经理", "name": name, "region_code": code, "level": level,
                     "abbr": regions.name_of(code)[0], "is_sub": True,
                     "org_code": w.fresh_code(code), "parent_org_code": parent.iloc[0] if len(parent) else None})
    z = describe_units(w.rng, pd.DataFrame(rows))
    z["in_scope"] = False
    z = z.rename(columns={"name": "org_name"})
    w.units = pd.concat([w.units, z], ignore_index=True)
    w._rec = None
    z1, z2, z3 = z["org_code"].tolist()
    for code in (z1, z2, z3):
        w.add_staff(code, 3)
    # Z1 (province): overage, bad-checksum ID, not in HR, 已死亡, over quota, 正职 over 0 posts & unconfirmed,
    # shared account, ghost; no approval document.
    w.units.loc[w.units["org_code"] == z1, "approval_doc"] = None
    w.add_staff(z1, sex="男", birth="1950-05-01", tag="oos-overage")
    bad = w.add_staff(z1, tag="oos-badid")["id_number"].iloc[0]
    w.new_rows[-1]["id_number"] = bad[:17] + ("0" if bad[17] != "0" else "1")
    w.add_staff(z1, hr=False, tag="oos-hr")
    w.add_staff(z1, police="已死亡", tag="oos-dead")
    w.add_staff(z1, leader="正职", odept=False, tag="oos-leader")
    w.quota_lock[(z1, "事业编制")] = "over"
    w.post_lock[(z1, "正职")] = "over"
    shared = w.add_staff(z1, 2, tag="oos-shared")["id_number"].tolist()
    for i in shared:
        w.account_override[(i, MAR)] = "6228480000000000017"
    w.ghost(z1)
    # Z2 (a city's own level): underage, ID/sex conflict, 行政编制 person with quota 0, stats mismatch,
    # more internal units than approved, one person also on an in-scope roster (not a duplicate: §4).
    w.units.loc[w.units["org_code"] == z2, "actual_units"] = w.units.loc[w.units["org_code"] == z2,
                                                                         "approved_units"] + 2
    w.add_staff(z2, birth="1997-06-01", tag="oos-underage")
    r = w.add_staff(z2, sex="男", tag="oos-conflict")
    r["sex_out"] = "女"
    w.add_staff(z2, kind="行政编制", staff_class="公务员", tag="oos-mixed")
    w.quota_lock[(z2, "行政编制")] = "zero"
    w.stats_delta[(z2, "事业编制")] = 3
    a = w.host(in_scope_full)
    p = w.add_staff(a, tag="cross-scope")  # in-scope row: paid by a, in HR — no finding anywhere
    w.add_staff(z2, id_number=p["id_number"].iloc[0], tag="cross-scope-oos", pay_feb=None, pay_mar=None,
                hr_org=a)
    w.new_rows[-1]["name"] = p["name"].iloc[0]
    w.new_rows[-1]["sex"] = p["sex"].iloc[0]
    w.new_rows[-1]["birth_date"] = p["birth_date"].iloc[0]
    w.new_rows[-1]["sex_out"] = p["sex"].iloc[0]
    w.new_rows[-1]["birth_out"] = p["birth_date"].iloc[0]
    w.new_rows[-1]["hr"] = False
    # Z3 (a county): invalid USCC, police 姓名不一致, a same-unit duplicate row, staff unpaid (自收自支).
    new = z3[:17] + ("1" if z3[17] != "1" else "2")
    w.recode(z3, new)
    for rows in w.new_rows:
        rows["org_code"] = rows["org_code"].where(rows["org_code"] != z3, new)
        for col in ("hr_org", "pay_feb", "pay_mar", "odept_org"):
            rows[col] = rows[col].where(rows[col] != z3, new)
    z3 = new
    w.add_staff(z3, police="姓名不一致", police_name="查无此名", pay_feb=None, pay_mar=None, tag="oos-police")
    d = w.add_staff(z3, pay_feb=None, pay_mar=None, tag="oos-dup")
    w.new_rows.append(d.copy())
    for code in (z1, z2, z3):
        w.find("ORG_OUT_OF_SCOPE", code)


def plant_org_rules(w: World) -> None:
    """ORG_UNAPPROVED, ORG_EXCESS_INTERNAL, ORG_CODE_INVALID — each on its own reserved unit."""
    u = w.units
    # ORG_UNAPPROVED: 批准文号 missing (two blank cells, one cell holding only spaces).
    for i in range(3):
        code = w.take()
        u.loc[u["org_code"] == code, "approval_doc"] = None
        if i == 2:
            w.whitespace_doc.add(code)
        w.find("ORG_UNAPPROVED", code)
    # ORG_EXCESS_INTERNAL: actual = approved + 1; actual = approved + 3; approved blank (0) with actual 2.
    for extra in (1, 3, None):
        code = w.take()
        m = u["org_code"] == code
        if extra is None:
            u.loc[m, "approved_units"] = 0
            u.loc[m, "actual_units"] = 2
            w.blank_cells.append((code, "approved_units"))
        else:
            u.loc[m, "actual_units"] = u.loc[m, "approved_units"] + extra
        w.find("ORG_EXCESS_INTERNAL", code)
    # non-firing edge: internal units both blank (0 = 0)
    code = w.take()
    u.loc[u["org_code"] == code, ["approved_units", "actual_units"]] = 0
    w.blank_cells += [(code, "approved_units"), (code, "actual_units")]
    # ORG_CODE_INVALID: wrong check character; a letter outside the GB 32100 alphabet; 17 characters.
    # Units without subordinate units; their staff, payroll, HR and stats rows carry the same code.
    leaf = is_leaf(w)
    for variant in ("check", "letter", "short"):
        code = w.take(leaf)
        if variant == "check":
            alt = [c for c in "0123456789" if c != code[17]]
            new = code[:17] + alt[int(w.rng.integers(0, len(alt)))]
        elif variant == "letter":
            new = code[:10] + "I" + code[11:]
        else:
            new = code[:17]
        w.recode(code, new)
        w.find("ORG_CODE_INVALID", new)


def plant_unknown(w: World) -> None:
    """ORG_UNKNOWN: codes used in 人员, 编外人员 and 财政发放 that are not in 机构."""
    # (a) a unit that did not report its 机构 row: two staff (paid by it, in HR); one is 61 → PER_OVERAGE.
    region = w.unit(w.host())["region_code"]
    x1 = w.fresh_code(region)
    w.unknown[x1] = region
    w.add_staff(x1, kind="事业编制", staff_class="管理人员", tag="unknown-staff")
    old = w.add_staff(x1, kind="事业编制", staff_class="管理人员", sex="男", birth="1952-11-20", tag="unknown-old")
    w.find("ORG_UNKNOWN", x1)
    w.find("PER_OVERAGE", x1, old["id_number"].iloc[0])
    # (b) off-establishment staff at an unknown unit.
    region = w.unit(w.host())["region_code"]
    x2 = w.fresh_code(region)
    w.unknown[x2] = region
    w.add_offstaff(x2, 2)
    w.find("ORG_UNKNOWN", x2)
    # (c) an unknown paying unit paying a ghost in both months → also PAY_GHOST.
    region = w.unit(w.host())["region_code"]
    x3 = w.fresh_code(region, inst=False)
    w.unknown[x3] = region
    g = w.ghost(x3)
    w.find("ORG_UNKNOWN", x3)
    w.find("PAY_GHOST", x3, g)
    # (d) a roster row with a mistyped (invalid) code of a real unit; payroll pays the real unit,
    #     so the row is also PAY_ORG_MISMATCH.
    real = w.host(in_scope_full)
    x4 = real[:16] + real[17] + real[16]
    digit = 0
    while x4 == real or uscc_check_chars([x4[:17]])[0] == x4[17] or x4 in w.taken_codes:
        x4 = real[:16] + str(digit) + real[17]
        digit += 1
    w.unknown[x4] = w.unit(real)["region_code"]
    p = w.add_staff(x4, kind=w.unit(real)["main_kind"], pay_feb=real, pay_mar=real, hr_org=real, tag="typo-code")
    w.find("ORG_UNKNOWN", x4)
    w.find("PAY_ORG_MISMATCH", x4, p["id_number"].iloc[0])


def plant_establishment(w: World) -> None:
    """EST_OVER (actual = quota + 1), EST_MIXED (kind with quota 0) and units exactly at quota."""
    # EST_OVER (a): two more persons of the main kind, quota = actual - 1.
    a = w.take()
    w.add_staff(a, 2, tag="est-over")
    w.quota_lock[(a, w.unit(a)["main_kind"])] = "over"
    w.find("EST_OVER", a, item=w.unit(a)["main_kind"])
    # EST_OVER (b): on 工勤编制 (two worker staff), quota_worker = actual - 1.
    b = w.take()
    w.add_staff(b, 2, kind="工勤编制", staff_class=C.WORKER_CLASS, tag="est-over-worker")
    w.quota_lock[(b, "工勤编制")] = "over"
    w.find("EST_OVER", b, item="工勤编制")
    # non-firing edge: a unit exactly at quota on its main kind.
    e = w.take()
    w.add_staff(e, 1, tag="est-exact")
    w.quota_lock[(e, w.unit(e)["main_kind"])] = "exact"
    # EST_MIXED: a 事业编制 person in a 机关 whose 核定事业编制 is 0; two 行政编制 persons in a 事业单位.
    m1 = w.take(lambda u: u["main_kind"] == "行政编制")
    r = w.add_staff(m1, kind="事业编制", staff_class="管理人员", tag="mixed")
    w.quota_lock[(m1, "事业编制")] = "zero"
    w.find("EST_MIXED", m1, r["id_number"].iloc[0])
    m2 = w.take(lambda u: u["main_kind"] == "事业编制" and u["psi_class"] != "承担行政职能")
    r = w.add_staff(m2, 2, kind="行政编制", staff_class="公务员", tag="mixed")
    w.quota_lock[(m2, "行政编制")] = "zero"
    for i in r["id_number"]:
        w.find("EST_MIXED", m2, i)


def plant_leaders(w: World) -> None:
    """LDR_OVER (with 0, and with ≥ 1 approved posts) and LDR_UNCONFIRMED (three ways)."""
    # LDR_OVER (a): exactly one 正职 and 核定正职领导职数 left blank (= 0).
    a = w.take()
    has_chief = ((w.staff["org_code"] == a) & (w.staff["leader_level"] == "正职")).any()
    if not has_chief:
        w.add_staff(a, leader="正职", tag="ldr-over-0")
    w.post_lock[(a, "正职")] = "over"
    w.blank_cells.append((a, "approved_chief"))
    w.find("LDR_OVER", a, item="正职")
    # LDR_OVER (b): two more 副职 than the unit had; posts = leaders - 1.
    b = w.take()
    w.add_staff(b, 2, leader="副职", tag="ldr-over-deputy")
    w.post_lock[(b, "副职")] = "over"
    w.find("LDR_OVER", b, item="副职")
    # LDR_OVER (c): two 正职 (one added, or two where it had none), posts = leaders - 1 ≥ 1.
    c = w.take()
    has_chief = ((w.staff["org_code"] == c) & (w.staff["leader_level"] == "正职")).any()
    w.add_staff(c, 1 if has_chief else 2, leader="正职", tag="ldr-over-chief")
    w.post_lock[(c, "正职")] = "over"
    w.find("LDR_OVER", c, item="正职")
    # LDR_UNCONFIRMED: no 组织部门 row; 组织部门 says another level; 组织部门 says another unit.
    h = w.host()
    r = w.add_staff(h, leader="副职", odept=False, tag="unconfirmed-missing")
    w.find("LDR_UNCONFIRMED", h, r["id_number"].iloc[0])
    h = w.host()
    r = w.add_staff(h, leader="正职", odept_level="副职", tag="unconfirmed-level")
    w.find("LDR_UNCONFIRMED", h, r["id_number"].iloc[0])
    h, other = w.host(), w.host()
    r = w.add_staff(h, leader="副职", odept_org=other, tag="unconfirmed-unit")
    w.find("LDR_UNCONFIRMED", h, r["id_number"].iloc[0])


def _bad_id(w: World, region: str, ymd: str, male: bool, *, province: str | None = None) -> str:
    seq = int(w.rng.integers(0, 500)) * 2 + int(male)
    pre = province + region[2:] if province else region
    first = f"{pre}{ymd}{seq:03d}"
    return first + id_check_chars([first])[0]


def plant_persons(w: World) -> None:
    """PER_* rules and HR_MISSING on planted persons in host units."""
    # PER_ID_INVALID: wrong check char; 30 Feb; born after as_of; province 60; 15 digits; wrong check char
    # on an ID that would be 64 years old (not PER_OVERAGE: only valid IDs are aged). The 15-digit one
    # comes back 号码不存在 from the police → also PER_POLICE_MISMATCH.
    h = w.host()
    reg = w.region_of(h)
    good = w.add_staff(h, sex="男", tag="id-checksum")["id_number"].iloc[0]
    bad = good[:17] + ("X" if good[17] != "X" else "0")
    w.new_rows[-1]["id_number"] = bad
    w.find("PER_ID_INVALID", h, bad)
    variants = [
        ("id-0230", _bad_id(w, reg, "19850230", True), None),
        ("id-future", _bad_id(w, reg, "20150601", False), None),
        ("id-province", _bad_id(w, reg, "19800704", True, province="60"), None),
        ("id-15", f"{reg}{720315}{int(w.rng.integers(100, 999))}", "号码不存在"),
    ]
    for tag, idn, police in variants:
        h = w.host()
        w.add_staff(h, id_number=idn, tag=tag, police=police or "一致", birth_out=None)
        w.find("PER_ID_INVALID", h, idn)
        if police:
            w.find("PER_POLICE_MISMATCH", h, idn)
    h = w.host()
    old = w.add_staff(h, sex="男", birth="1950-02-01", tag="id-old-checksum")["id_number"].iloc[0]
    bad = old[:17] + ("X" if old[17] != "X" else "0")
    w.new_rows[-1]["id_number"] = bad
    w.find("PER_ID_INVALID", h, bad)
    # PER_ID_CONFLICT: 性别 differs; 出生日期 one day off; both differ (one finding); a man of 57 entered
    # as 女 管理人员: conflict only — retirement goes by the ID's sex (男 60), so no PER_OVERAGE.
    h = w.host()
    r = w.add_staff(h, sex="女", tag="conflict-sex", sex_out="男")
    w.find("PER_ID_CONFLICT", h, r["id_number"].iloc[0])
    h = w.host()
    r = w.add_staff(h, tag="conflict-birth")
    w.new_rows[-1]["birth_out"] = r["birth_date"] + pd.Timedelta(days=1)
    w.find("PER_ID_CONFLICT", h, r["id_number"].iloc[0])
    h = w.host()
    r = w.add_staff(h, sex="男", tag="conflict-both", sex_out="女")
    w.new_rows[-1]["birth_out"] = r["birth_date"] - pd.Timedelta(days=40)
    w.find("PER_ID_CONFLICT", h, r["id_number"].iloc[0])
    h = w.host(lambda u: u["main_kind"] == "事业编制")
    r = w.add_staff(h, sex="男", birth="1956-10-10", staff_class="管理人员", sex_out="女", tag="conflict-57")
    w.find("PER_ID_CONFLICT", h, r["id_number"].iloc[0])
    # non-firing edge: 性别 and 出生日期 both blank
    w.add_staff(w.host(), sex_out=None, birth_out=None, tag="blank-sex-birth")

    # PER_DUPLICATE
    # D1: units A and B (B reserved): row in B is also PAY_ORG_MISMATCH (paid by A only) and makes B
    #     one over its main-kind quota → EST_OVER(B).
    a = w.host(in_scope_full)
    b = w.take(lambda u: u["region_code"] != w.region_of(a))
    p = w.add_staff(a, tag="dup1")
    w.add_staff(b, tag="dup1-b-staff")  # so that B's main kind has ≥ 2 people and a quota ≥ 1
    _second_row(w, p, b, tag="dup1-b")
    idn = p["id_number"].iloc[0]
    w.find("PER_DUPLICATE", a, idn)
    w.find("PER_DUPLICATE", b, idn)
    w.find("PAY_ORG_MISMATCH", b, idn)
    w.quota_lock[(b, w.unit(b)["main_kind"])] = "over"
    w.find("EST_OVER", b, item=w.unit(b)["main_kind"])
    # D2: the same person twice in one unit E → one finding; E is exactly at quota counting distinct IDs.
    e = w.take()
    p = w.add_staff(e, tag="dup2")
    w.new_rows.append(p.copy().assign(tag="dup2-again"))
    w.find("PER_DUPLICATE", e, p["id_number"].iloc[0])
    w.quota_lock[(e, w.unit(e)["main_kind"])] = "exact"
    # D3: duplicated and deceased (已死亡), still paid by A3.
    a3 = w.host(in_scope_full)
    b3 = w.host(lambda u: u["region_code"] != w.region_of(a3))
    p = w.add_staff(a3, police="已死亡", tag="dup3-dead")
    _second_row(w, p, b3, tag="dup3-b")
    idn = p["id_number"].iloc[0]
    for org in (a3, b3):
        w.find("PER_DUPLICATE", org, idn)
        w.find("PER_DECEASED", org, idn)
    w.find("PAY_ORG_MISMATCH", b3, idn)
    # D4: the same ID written '…X' in A4 and with full-width digits and lower-case 'x' in C4; absent
    #     from HR (HR_MISSING on both rows); paid by A4 → PAY_ORG_MISMATCH at C4.
    a4 = w.host(in_scope_full)
    c4 = w.host(lambda u: u["org_code"] != a4)
    idn = _with_x(w, w.region_of(a4), "女", "1979-08-17")
    p = w.add_staff(a4, sex="女", birth="1979-08-17", id_number=idn, hr=False, tag="dup4")
    _second_row(w, p, c4, tag="dup4-c", id_out=_fullwidth(idn[:17]) + "x", hr=False)
    for org in (a4, c4):
        w.find("PER_DUPLICATE", org, idn)
        w.find("HR_MISSING", org, idn)
    w.find("PAY_ORG_MISMATCH", c4, idn)

    # PER_POLICE_MISMATCH: 姓名不一致 (twice), 号码不存在.  PER_DECEASED: 已死亡, 已注销.
    for result in ("姓名不一致", "姓名不一致", "号码不存在"):
        h = w.host()
        r = w.add_staff(h, police=result, tag="police")
        if result == "姓名不一致":
            w.new_rows[-1]["police_name"] = names(w.rng, ["男"])[0]
        w.find("PER_POLICE_MISMATCH", h, r["id_number"].iloc[0])
    for result in ("已死亡", "已注销"):
        h = w.host()
        r = w.add_staff(h, police=result, tag="deceased")
        w.find("PER_DECEASED", h, r["id_number"].iloc[0])

    # PER_OVERAGE: 男 60 on as_of exactly; 女 管理人员 55; 女 工勤技能人员 50; 男 63.
    # Non-firing edges: 男 59 (birthday tomorrow), 女 专业技术人员 54, 女 工勤 49, 女 管理人员 52.
    inst = lambda u: u["main_kind"] == "事业编制" and u["psi_class"] != "承担行政职能"  # noqa: E731
    cases = [
        ("男", "1954-03-31", None, None, True), ("女", "1958-07-15", "事业编制", "管理人员", True),
        ("女", "1963-12-01", "工勤编制", C.WORKER_CLASS, True), ("男", "1950-09-09", None, None, True),
        ("男", "1954-04-01", None, None, False), ("女", "1959-06-01", "事业编制", "专业技术人员", False),
        ("女", "1964-04-01", "工勤编制", C.WORKER_CLASS, False), ("女", "1961-05-05", "事业编制", "管理人员", False),
    ]
    for sex, birth, kind, cls, fires in cases:
        h = w.host(inst if kind == "事业编制" else None)
        r = w.add_staff(h, sex=sex, birth=birth, kind=kind, staff_class=cls, tag="age")
        if fires:
            w.find("PER_OVERAGE", h, r["id_number"].iloc[0])
    # PER_UNDERAGE: 17 (18th birthday tomorrow) and 16; non-firing: 18 today.
    for birth, fires in (("1996-04-01", True), ("1997-09-10", True), ("1996-03-31", False)):
        h = w.host()
        r = w.add_staff(h, birth=birth, tag="young", entry_date=d64("2013-09-01"))
        if fires:
            w.find("PER_UNDERAGE", h, r["id_number"].iloc[0])

    # HR_MISSING: two people absent from 人社信息 (plus D4 above).  Non-firing: HR lists the person under
    # another unit (HR_MISSING looks at the ID only).
    for _ in range(2):
        h = w.host()
        r = w.add_staff(h, hr=False, tag="hr-missing")
        w.find("HR_MISSING", h, r["id_number"].iloc[0])
    w.add_staff(w.host(), hr_org=w.host(), tag="hr-other-unit")


def _second_row(w: World, p: pd.DataFrame, org: str, *, tag: str, **flags) -> None:
    """A second roster row for the same person in another unit (its main kind, not paid by it)."""
    u = w.unit(org)
    row = p.copy()
    row["org_code"] = org
    row["est_kind"] = u["main_kind"]
    row["staff_class"] = staff_class_for(w.rng, [u["main_kind"]], [u["psi_class"]])
    row["post"] = posts(w.rng, row["staff_class"].to_numpy(), [u["key"]], [C.NO_LEADER], [u["chief"]])
    row["leader_level"] = C.NO_LEADER
    row["pay_feb"] = None
    row["pay_mar"] = None
    row["hr_org"] = p["org_code"].iloc[0]
    row["odept"] = False
    row["tag"] = tag
    for k, v in flags.items():
        row[k] = v
    w.new_rows.append(row)


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)


def plant_payroll(w: World) -> None:
    """PAY_GHOST, PAY_UNPAID, PAY_ORG_MISMATCH, PAY_SHARED_ACCOUNT, PAY_OVER_QUOTA (latest month only)."""
    # PAY_GHOST: paid in both months by an in-scope unit; an invalid ID paid in March only.
    # Non-firing: a ghost only in 2014-02; a ghost paid by an out-of-scope unit (in plant_out_of_scope);
    # a paid off-establishment person (in 编外人员, so not a ghost).
    h = w.host()
    w.find("PAY_GHOST", h, w.ghost(h))
    h = w.host()
    g = _bad_id(w, w.region_of(h), "19781102", True)
    g = g[:17] + ("0" if g[17] != "0" else "1")
    w.find("PAY_GHOST", h, w.ghost(h, months=(MAR,), id_number=g))
    w.ghost(w.host(), months=(FEB,))
    h = w.host()
    off = w.add_offstaff(h)
    for m in (FEB, MAR):
        w.pay_extra.append({"id_number": off["id_number"].iloc[0], "name": off["name"].iloc[0],
                            "org_code": h, "pay_month": m})
    # PAY_UNPAID (full-funded units): paid in February but not March (twice); never paid.
    # Non-firing: someone in a 差额拨款 unit with no pay; a new hire paid only in March.
    for feb in (True, True, False):
        h = w.host(in_scope_full)
        r = w.add_staff(h, pay_feb=h if feb else None, pay_mar=None, tag="unpaid")
        w.find("PAY_UNPAID", h, r["id_number"].iloc[0])
    w.add_staff(w.host(lambda u: u["funding"] == "财政差额拨款"), pay_feb=None, pay_mar=None, tag="unpaid-part")
    h = w.host(in_scope_full)
    w.add_staff(h, pay_feb=None, entry_date=d64("2014-03-01"), tag="new-hire")
    # PAY_ORG_MISMATCH: paid by another (in-scope) unit in both months (twice).  Non-firing: paid by its
    # own unit and, in the same month, also by another unit (same account).
    for _ in range(2):
        h, other = w.host(), w.host()
        r = w.add_staff(h, pay_feb=other, pay_mar=other, tag="pay-elsewhere")
        w.find("PAY_ORG_MISMATCH", h, r["id_number"].iloc[0])
    h, other = w.host(in_scope_full), w.host()
    r = w.add_staff(h, tag="paid-twice")
    for m in (FEB, MAR):
        w.pay_extra.append({"id_number": r["id_number"].iloc[0], "name": r["name"].iloc[0], "org_code": other,
                            "pay_month": m})
    # PAY_SHARED_ACCOUNT: two people of one unit share an account; three people of three units share one.
    # Non-firing: an account shared only in February; two people with a blank account.
    h = w.host(in_scope_full)
    r = w.add_staff(h, 2, tag="shared-1")
    for i in r["id_number"]:
        for m in (FEB, MAR):
            w.account_override[(i, m)] = f"62284804025{w.round:04d}0018"
        w.find("PAY_SHARED_ACCOUNT", h, i)
    for _ in range(3):
        h = w.host(in_scope_full)
        r = w.add_staff(h, tag="shared-3")
        w.account_override[(r["id_number"].iloc[0], MAR)] = f"62170028700{w.round:04d}1245"
        w.find("PAY_SHARED_ACCOUNT", h, r["id_number"].iloc[0])
    for _ in range(2):
        r = w.add_staff(w.host(in_scope_full), tag="shared-feb")
        w.account_override[(r["id_number"].iloc[0], FEB)] = f"62284804025{w.round:04d}9999"
    for _ in range(2):
        r = w.add_staff(w.host(in_scope_full), tag="blank-account")
        for m in (FEB, MAR):
            w.account_override[(r["id_number"].iloc[0], m)] = ""
    # PAY_OVER_QUOTA: quotas equal actual staff (all paid) and two paid off-establishment staff; or a paid
    # ghost (also PAY_GHOST).  Non-firing edge: a unit whose paid count equals the sum of its quotas.
    for variant in ("offstaff", "ghost", "edge"):
        u = w.take(in_scope_full)
        w.add_staff(u, tag="poq")
        w.exact_all.add(u)
        if variant == "offstaff":
            off = w.add_offstaff(u, 2)
            for i, name in zip(off["id_number"], off["name"], strict=True):
                for m in (FEB, MAR):
                    w.pay_extra.append({"id_number": i, "name": name, "org_code": u, "pay_month": m})
        elif variant == "ghost":
            w.find("PAY_GHOST", u, w.ghost(u))
        if variant != "edge":
            w.find("PAY_OVER_QUOTA", u)


def plant_stats(w: World) -> None:
    """ORG_STAT_MISMATCH: 2013统计 核定数 +2, −1, and 5 for a kind whose quota is blank (0).

    Non-firing: a row with 核定数 0 for a blank kind; a row for a unit not in 机构; the out-of-scope unit's
    mismatch (plant_out_of_scope).
    """
    for delta in (2, -1):
        u = w.take()
        kind = w.unit(u)["main_kind"]
        w.stats_delta[(u, kind)] = delta
        w.find("ORG_STAT_MISMATCH", u, item=kind)
    for value, fires in ((5, True), (0, False)):
        u = w.take(lambda u: u["main_kind"] != "政法专项编制")
        w.stats_extra.append({"org_code": u, "est_kind": "政法专项编制", "quota": value, "actual": 0})
        w.quota_lock[(u, "政法专项编制")] = "zero"
        if fires:
            w.find("ORG_STAT_MISMATCH", u, item="政法专项编制")
    region = w.unit(w.host())["region_code"]
    w.stats_extra.append({"org_code": w.fresh_code(region), "est_kind": "事业编制", "quota": 12, "actual": 11})


# ================================================================================== quotas & tables
def finalise(w: World) -> None:
    """Quotas and leader posts from the final roster: headroom everywhere, planted locks respected,
    and the sum of quotas covering the unit's paid persons (no accidental PAY_OVER_QUOTA)."""
    w.flush()
    rng, units, staff = w.rng, w.units, w.staff
    codes = units["org_code"].to_numpy()
    actual = (staff.drop_duplicates(["org_code", "est_kind", "id_number"])
              .groupby(["org_code", "est_kind"]).size().unstack(fill_value=0)
              .reindex(index=codes, columns=list(KINDS), fill_value=0))
    head = rng.integers(0, 3, actual.shape) * (actual.to_numpy() > 0)
    main = units["main_kind"].to_numpy()
    quota = actual.to_numpy() + head
    for j, k in enumerate(KINDS):
        vacant = (main == k) & (actual.to_numpy()[:, j] == 0)
        quota[vacant, j] = rng.integers(1, 4, vacant.sum())
    pos = {c: i for i, c in enumerate(codes)}
    exact = np.array([c in w.exact_all for c in codes])
    quota[exact] = actual.to_numpy()[exact]
    for (org, kind), mode in w.quota_lock.items():
        i, j = pos[org], KINDS.index(kind)
        quota[i, j] = {"over": actual.iat[i, j] - 1, "exact": actual.iat[i, j], "zero": 0}[mode]
    pay = payroll(w)
    paid = (pay[pay["pay_month"] == MAR].drop_duplicates(["org_code", "id_number"])
            .groupby("org_code").size().reindex(codes, fill_value=0).to_numpy())
    deficit = paid - quota.sum(axis=1)
    for i in np.flatnonzero((deficit > 0) & ~exact):
        order = [main[i], "工勤编制", "事业编制", "行政编制", "政法专项编制"]
        k = next(k for k in order if (codes[i], k) not in w.quota_lock)
        quota[i, KINDS.index(k)] += deficit[i]
    assert (quota >= 0).all()
    for j, k in enumerate(KINDS):
        units[C.EST_KINDS[k]] = quota[:, j]
    leaders = (staff[staff["leader_level"] != C.NO_LEADER].drop_duplicates(["org_code", "leader_level", "id_number"])
               .groupby(["org_code", "leader_level"]).size().unstack(fill_value=0)
               .reindex(index=codes, columns=list(C.LEADER_LEVELS), fill_value=0))
    for level, col in C.LEADER_LEVELS.items():
        posts_ = leaders[level].to_numpy() + (rng.random(len(codes)) < 0.4)
        for (org, lv), _mode in w.post_lock.items():
            if lv == level:
                posts_[pos[org]] = leaders[level].iat[pos[org]] - 1
        units[col] = posts_
    w.actual = actual


def payroll(w: World) -> pd.DataFrame:
    """Payroll rows of both months (canonical), one account per person unless planted otherwise."""
    s = w.staff
    parts = []
    for month, col in ((FEB, "pay_feb"), (MAR, "pay_mar")):
        m = s[col].notna()
        parts.append(pd.DataFrame({"id_number": s.loc[m, "id_number"], "name": s.loc[m, "name"],
                                   "org_code": s.loc[m, col], "pay_month": month}))
    if w.pay_extra:
        parts.append(pd.DataFrame(w.pay_extra))
    pay = pd.concat(parts, ignore_index=True).drop_duplicates(["id_number", "org_code", "pay_month"])
    return pay.reset_index(drop=True)


def stats2013(w: World) -> pd.DataFrame:
    """2013统计: one row per unit and kind with a quota, 核定数 = quota (planted deltas applied)."""
    u = w.units
    rows = []
    for k, col in C.EST_KINDS.items():
        m = u[col] > 0
        rows.append(pd.DataFrame({"org_code": u.loc[m, "org_code"], "est_kind": k, "quota": u.loc[m, col],
                                  "actual": w.actual.loc[u.loc[m, "org_code"], k].to_numpy()}))
    st = pd.concat(rows, ignore_index=True)
    for (org, kind), delta in w.stats_delta.items():
        st.loc[(st["org_code"] == org) & (st["est_kind"] == kind), "quota"] += delta
    st = pd.concat([st, pd.DataFrame(w.stats_extra)], ignore_index=True)
    return st
