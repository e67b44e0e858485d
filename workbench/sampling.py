"""督查验收 sampling, 互检互查 rotation, on-site person samples and their evaluation (DESIGN §6).

Pure functions over DataFrames (``select_units``, ``rotation``, ``attribute_sample_size``,
``draw_persons``, ``clopper_pearson``, ``evaluate_results``) plus thin workspace layers that feed them
with set-based DuckDB queries (``sampling_frame``, ``person_frame``, ``draw_plan``, ``store_plan``,
``evaluate_plan``).

Unit sample: two universes — county-level regions (stratified by city) and provincial units (one
stratum). Each unit gets a priority key ``log(u) / w`` (the Efraimidis–Spirakis key ``u^(1/w)``),
where ``u`` is a uniform number fixed by (seed, unit code) and ``w = 1 + risk score``, the risk score
being Σ severity weight × findings per 100 staff of the latest check run. A stratum of N units takes
its ``ceil(ratio × N)`` highest keys (forced units first), so a higher ratio with the same seed keeps
every earlier pick.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from . import contract, ids, regions

SEVERITY_WEIGHTS = {"critical": 10.0, "high": 5.0, "medium": 2.0, "low": 1.0, "info": 0.0}
DEFAULT_RATIO = 0.4
DEFAULT_CONFIDENCE, DEFAULT_TOLERABLE, DEFAULT_EXPECTED = 0.95, 0.05, 0.0
#: populations up to this size are sized and evaluated with the hypergeometric distribution
HYPERGEOMETRIC_MAX = 5000
MAX_SAMPLE = 100_000
PROVINCE_TEAM_CODE = contract.PROVINCE_UNIT_REGION
_EPS = 1e-9


class SamplingError(ValueError):
    """A sampling request that cannot be met; the message is Chinese and says why."""


# ------------------------------------------------------------------------------------------ helpers
def take_count(ratio: float, n: int) -> int:
    """ceil(ratio × n), immune to float noise such as 0.7 × 10 = 7.000000000000001."""
    return math.ceil(round(ratio * n, 9))


def key_sql(seed: int, *columns: str) -> str:
    """SQL for the uniform number of a row: (first 13 hex digits of MD5('seed|c1|c2|…') + 0.5) / 16^13.

    MD5 makes the draw reproducible anywhere (Python: ``int(hashlib.md5(text).hexdigest()[:13], 16)``)."""
    text = " || '|' || ".join([f"'{int(seed)}'", *(f"coalesce(CAST({c} AS VARCHAR), '')" for c in columns)])
    return f"((('0x' || substr(md5({text}), 1, 13))::BIGINT + 0.5) / 4503599627370496.0)"


_KEY_CON: duckdb.DuckDBPyConnection | None = None


def uniform_keys(seed: int, *columns: pd.Series) -> np.ndarray:
    """Uniform numbers in (0, 1) fixed by the seed and the row's values (not by their order); see key_sql."""
    global _KEY_CON
    if _KEY_CON is None:
        _KEY_CON = duckdb.connect()
    frame = pd.DataFrame({f"c{i}": c.astype("string").fillna("").to_numpy(dtype=object)
                          for i, c in enumerate(columns)})
    cur = _KEY_CON.cursor()
    try:
        cur.register("_wb_keys", frame)
        return cur.execute(f"SELECT {key_sql(seed, *frame.columns)} AS u FROM _wb_keys").df()["u"].to_numpy()
    finally:
        cur.close()


def _check_rate(name: str, value: float, low_open: bool = True) -> None:
    ok = (0 < value < 1) if low_open else (0 <= value < 1)
    if not ok or math.isnan(value):
        raise SamplingError(f"{name}必须{'大于0' if low_open else '不小于0'}且小于1，当前为{value}。")


# ------------------------------------------------------------------------------------------ unit sample
def select_units(frame: pd.DataFrame, ratio: float = DEFAULT_RATIO, seed: int = 0,
                 force_critical: bool = False) -> pd.DataFrame:
    """Rank every unit of the sampling frame within its stratum and mark the picks.

    ``frame``: universe, stratum, unit_code, weight (> 0), n_critical_findings (optional). Returns the frame
    with u, key, forced, rank (1 = first pick), n_stratum, take, picked, reason.
    """
    if not 0 < ratio <= 1 or math.isnan(ratio):
        raise SamplingError(f"抽取比例必须大于0且不超过1，当前为{ratio}。")
    out = frame.copy().reset_index(drop=True)
    if "n_critical_findings" not in out:
        out["n_critical_findings"] = 0
    w = out["weight"].astype(float)
    if (w <= 0).any() or w.isna().any():
        raise SamplingError("风险权重必须为正数。")
    out["u"] = uniform_keys(seed, out["universe"], out["unit_code"])
    out["key"] = np.log(out["u"]) / w
    out["forced"] = bool(force_critical) & (out["n_critical_findings"].fillna(0) > 0)
    out = out.sort_values(["universe", "stratum", "forced", "key", "unit_code"],
                          ascending=[True, True, False, False, True], kind="mergesort")
    grouped = out.groupby(["universe", "stratum"], sort=False)
    out["rank"] = grouped.cumcount() + 1
    out["n_stratum"] = grouped["unit_code"].transform("size")
    n_forced = grouped["forced"].transform("sum")
    out["take"] = [max(take_count(ratio, n), int(f)) for n, f in zip(out["n_stratum"], n_forced, strict=True)]
    out["picked"] = out["rank"] <= out["take"]
    out["reason"] = _reasons(out)
    return out.reset_index(drop=True)


def _reasons(df: pd.DataFrame) -> list[str]:
    name = df["stratum_name"] if "stratum_name" in df else df["stratum"]
    reasons = []
    for s, f, r, t, n, w, p, c in zip(name, df["forced"], df["rank"], df["take"], df["n_stratum"], df["weight"],
                                      df["picked"], df["n_critical_findings"], strict=True):
        if not p:
            reasons.append(f"未抽中：分层「{s}」第{r}位，本层抽取{t}/{n}个")
        elif f:
            reasons.append(f"存在{int(c)}个严重问题，强制纳入（分层「{s}」，风险权重{w:.2f}）")
        else:
            reasons.append(f"分层「{s}」按风险加权随机抽中：第{r}位，本层抽取{t}/{n}个，风险权重{w:.2f}")
    return reasons


def strata_summary(units: pd.DataFrame) -> pd.DataFrame:
    """Per universe and stratum: units, picks, the ratio achieved, forced picks."""
    g = units.groupby(["universe", "stratum", "stratum_name"], sort=True)
    out = g.agg(n_stratum=("unit_code", "size"), take=("picked", "sum"), n_forced=("forced", "sum")).reset_index()
    out["picked_share"] = out["take"] / out["n_stratum"]
    return out


# ------------------------------------------------------------------------------------------ rotation
def rotation(cities: pd.DataFrame | list[str], seed: int, *, no_mutual: bool = False,
             avoid: pd.DataFrame | None = None, max_nodes: int = 200_000) -> pd.DataFrame:
    """Assign each city's team a different city to inspect (a seeded derangement).

    ``cities``: region codes (or a frame with region_code). ``no_mutual``: no two teams inspect each other.
    ``avoid``: a frame of team_region, inspected_region pairs (e.g. last campaign's) that must not recur.
    Raises :class:`SamplingError` with a Chinese message when the constraints cannot be met.
    """
    codes = list(cities["region_code"] if isinstance(cities, pd.DataFrame) else cities)
    codes = sorted(dict.fromkeys(str(c) for c in codes))
    n = len(codes)
    rules = ["不得检查本市州"] + (["不得互查对调"] if no_mutual else []) + (
        ["不得与上一轮安排相同"] if avoid is not None and len(avoid) else [])
    if n < 2:
        raise SamplingError(f"互检互查至少需要2个市州，当前只有{n}个。")
    if no_mutual and n < 3:
        raise SamplingError(f"只有{n}个市州时，任何轮换都是互查对调，无法满足“不得互查对调”的约束。")
    banned = set()
    if avoid is not None and len(avoid):
        banned = set(zip(avoid["team_region"].astype(str), avoid["inspected_region"].astype(str), strict=True))
    rng = np.random.default_rng(seed)
    order = [codes[i] for i in rng.permutation(n)]
    options = {c: [codes[i] for i in rng.permutation(n) if codes[i] != c and (c, codes[i]) not in banned]
               for c in codes}
    empty = [c for c in codes if not options[c]]
    if empty:
        raise SamplingError(f"无法安排互检互查（约束：{'、'.join(rules)}）："
                            f"{'、'.join(regions.name_of(c) for c in empty)}没有可检查的市州。")
    order.sort(key=lambda c: len(options[c]))  # most constrained team first (stable: seeded order breaks ties)
    assign: dict[str, str] = {}
    taken: set[str] = set()
    nodes = 0

    def search(i: int) -> bool:
        nonlocal nodes
        if i == n:
            return True
        team = order[i]
        for target in options[team]:
            nodes += 1
            if nodes > max_nodes:
                raise SamplingError(f"互检互查安排搜索超过{max_nodes}步仍未找到方案（约束：{'、'.join(rules)}），"
                                    "请放宽约束。")
            if target in taken or (no_mutual and assign.get(target) == team):
                continue
            assign[team] = target
            taken.add(target)
            if search(i + 1):
                return True
            del assign[team]
            taken.discard(target)
        return False

    if not search(0):
        raise SamplingError(f"无法为{n}个市州安排互检互查：不存在同时满足“{'、'.join(rules)}”的轮换方案。")
    out = pd.DataFrame({"team_region": codes, "inspected_region": [assign[c] for c in codes]})
    out["team_name"] = out["team_region"].map(regions.name_of)
    out["inspected_name"] = out["inspected_region"].map(regions.name_of)
    return out[["team_region", "team_name", "inspected_region", "inspected_name"]]


# ------------------------------------------------------------------------------------------ sample sizes
def _expected_k(n: np.ndarray, expected: float) -> np.ndarray:
    return np.ceil(np.round(n * expected, 9)).astype(int)


def attribute_sample_size(confidence: float = DEFAULT_CONFIDENCE, tolerable: float = DEFAULT_TOLERABLE,
                          expected: float = DEFAULT_EXPECTED, population: int | None = None) -> int:
    """Attribute-sampling size: the smallest n whose expected deviations ceil(n × expected) still prove,
    at ``confidence``, that the deviation rate is below ``tolerable``.

    Binomial (the AICPA tables: 95 %/5 %/0 % → 59, 95 %/5 %/1 % → 93) for large or unknown populations;
    hypergeometric for populations up to :data:`HYPERGEOMETRIC_MAX`; never more than the population.
    """
    _check_rate("置信水平", confidence)
    _check_rate("可容忍偏差率", tolerable)
    _check_rate("预期偏差率", expected, low_open=False)
    if expected >= tolerable:
        raise SamplingError(f"预期偏差率（{expected:.2%}）必须小于可容忍偏差率（{tolerable:.2%}）。")
    alpha = 1 - confidence
    if population is not None:
        population = int(population)
        if population <= 0:
            return 0
        if population <= HYPERGEOMETRIC_MAX:
            n = np.arange(1, population + 1)
            bad = max(1, take_count(tolerable, population))  # fewest deviations at the tolerable rate
            ok = stats.hypergeom.cdf(_expected_k(n, expected), population, bad, n) <= alpha + _EPS
            return int(n[ok][0]) if ok.any() else population
    n = np.arange(1, MAX_SAMPLE + 1)
    ok = stats.binom.cdf(_expected_k(n, expected), n, tolerable) <= alpha + _EPS
    if not ok.any():
        raise SamplingError("样本量超过上限，请提高可容忍偏差率或降低置信水平。")
    size = int(n[ok][0])
    return min(size, population) if population is not None else size


def size_table(confidence: float = DEFAULT_CONFIDENCE,
               tolerables=(0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.15, 0.20),
               expecteds=(0.0, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03)) -> pd.DataFrame:
    """Large-population sample sizes (the AICPA layout): rows 预期偏差率, columns 可容忍偏差率; blank where
    the expected rate is not below the tolerable one."""
    table = pd.DataFrame(
        [[attribute_sample_size(confidence, t, e) if e < t else None for t in tolerables] for e in expecteds],
        index=pd.Index([f"{e:.2%}" for e in expecteds], name=contract.SAMPLE_HEADERS["expected"]),
        columns=pd.Index([f"{t:.0%}" for t in tolerables], name=contract.SAMPLE_HEADERS["tolerable"]),
    )
    return table.astype("Int64")


def sample_size_method(population: int) -> str:
    return "超几何分布" if 0 < population <= HYPERGEOMETRIC_MAX else "二项分布"


# ------------------------------------------------------------------------------------------ person sample
def draw_persons(population: pd.DataFrame, sizes: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per unit: every critical person plus the ``n_random`` non-critical persons with the smallest
    seeded keys. ``population``: unit_code, org_code, id_number, critical (bool), …; ``sizes``:
    unit_code, n_random. Returns the chosen rows with stratum ('critical'/'random') and draw_order."""
    pop = population.copy().reset_index(drop=True)
    if "u" not in pop:
        pop["u"] = uniform_keys(seed, pop["unit_code"], pop["org_code"], pop["id_number"])
    pop = pop.sort_values(["unit_code", "critical", "u", "org_code", "id_number"],
                          ascending=[True, False, True, True, True], kind="mergesort")
    pop["draw_order"] = pop.groupby(["unit_code", "critical"]).cumcount() + 1
    pop = pop.merge(sizes[["unit_code", "n_random"]], on="unit_code", how="left")
    keep = pop["critical"] | (pop["draw_order"] <= pop["n_random"].fillna(0))
    out = pop[keep].copy()
    out["stratum"] = np.where(out["critical"], "critical", "random")
    return out.drop(columns=["n_random"]).reset_index(drop=True)


def person_sizes(population: pd.DataFrame, confidence: float, tolerable: float, expected: float) -> pd.DataFrame:
    """Per unit: population, n_critical, n_rest, n_random (attribute sample of the rest), method, n_sample."""
    g = population.groupby("unit_code")
    out = g.agg(population=("id_number", "size"), n_critical=("critical", "sum")).reset_index()
    out["n_critical"] = out["n_critical"].astype(int)
    out["n_rest"] = out["population"] - out["n_critical"]
    sizes = {n: attribute_sample_size(confidence, tolerable, expected, n) for n in set(out["n_rest"])}
    out["n_random"] = out["n_rest"].map(sizes).astype(int)
    out["method"] = out["n_rest"].map(sample_size_method)
    out["n_sample"] = out["n_critical"] + out["n_random"]
    return out


# ------------------------------------------------------------------------------------------ evaluation
def clopper_pearson(x, n, confidence: float = DEFAULT_CONFIDENCE, two_sided: bool = False):
    """Exact (Clopper–Pearson) bounds for x deviations in n: (lower, upper) arrays.

    One-sided (default): each bound at ``confidence``; two-sided: (1 - confidence) / 2 in each tail,
    equal to statsmodels ``proportion_confint(x, n, alpha=1 - confidence, method='beta')``.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    tail = (1 - confidence) / 2 if two_sided else 1 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(x > 0, stats.beta.ppf(tail, np.maximum(x, 1e-300), n - x + 1), 0.0)
        upper = np.where(x < n, stats.beta.ppf(1 - tail, x + 1, np.maximum(n - x, 1e-300)), 1.0)
    lower = np.where(n > 0, lower, 0.0)
    upper = np.where(n > 0, upper, 1.0)
    return lower, upper


def hypergeometric_bounds(x: int, n: int, population: int, tail: float) -> tuple[int, int]:
    """Exact finite-population bounds on the number of deviations D given x in a sample of n without
    replacement: the smallest D with P(X ≥ x | D) > tail and the largest D with P(X ≤ x | D) > tail."""
    if n <= 0 or population <= 0:
        return 0, max(population, 0)
    d = np.arange(x, population - (n - x) + 1)
    hi_ok = stats.hypergeom.cdf(x, population, d, n) > tail + _EPS
    lo_ok = stats.hypergeom.sf(x - 1, population, d, n) > tail + _EPS
    return (int(d[lo_ok].min()) if lo_ok.any() else x), (int(d[hi_ok].max()) if hi_ok.any() else x)


def hypergeometric_upper(x: int, n: int, population: int, confidence: float) -> float:
    """Exact finite-population upper bound on the deviation rate: the largest D with P(X ≤ x | D) > α, / N."""
    if n <= 0 or population <= 0:
        return 1.0
    return hypergeometric_bounds(x, n, population, 1 - confidence)[1] / population


def evaluate_results(persons: pd.DataFrame, sizes: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE,
                     tolerable: float = DEFAULT_TOLERABLE) -> pd.DataFrame:
    """The acceptance table: one row per unit and a total row.

    ``persons``: unit_code, stratum, onsite_result (blank = not yet checked); ``sizes``: unit_code,
    population, n_critical, n_rest, n_random (+ any label columns, kept). The random part gives the
    deviation rate, its exact upper bound (Clopper–Pearson; hypergeometric for units sized that way, which
    decides pass/fail) and, with the critical persons' own results, the projected number of absent persons.
    """
    p = persons.copy()
    p["done"] = p["onsite_result"].isin(contract.ONSITE_RESULTS)
    p["dev"] = p["onsite_result"].isin(contract.ONSITE_DEVIATIONS)
    rnd, crit = p[p["stratum"] == "random"], p[p["stratum"] == "critical"]
    agg = sizes.copy()
    for name, part, col in (("checked", rnd, "done"), ("deviations", rnd, "dev"),
                            ("critical_checked", crit, "done"), ("critical_deviations", crit, "dev")):
        agg[name] = agg["unit_code"].map(part.groupby("unit_code")[col].sum()).fillna(0).astype(int)
    agg["rate"] = agg["deviations"] / agg["checked"].where(agg["checked"] > 0)
    _, agg["cp_upper"] = clopper_pearson(agg["deviations"], agg["checked"], confidence)
    finite = (agg["n_rest"] <= HYPERGEOMETRIC_MAX) & (agg["n_rest"] > 0)
    agg["upper"] = [
        hypergeometric_upper(x, n, pop, confidence) if f else cp
        for x, n, pop, f, cp in zip(agg["deviations"], agg["checked"], agg["n_rest"], finite, agg["cp_upper"],
                                    strict=True)]
    # projection: the critical persons' own results + the rest's deviations, two-sided exact interval
    # (hypergeometric counts for finite units, Clopper–Pearson × N otherwise)
    lo, hi = clopper_pearson(agg["deviations"], agg["checked"], confidence, two_sided=True)
    rest = agg["n_rest"].where(agg["checked"] > 0, 0)
    exact = [hypergeometric_bounds(x, n, pop, (1 - confidence) / 2) if f and n > 0 else (np.nan, np.nan)
             for x, n, pop, f in zip(agg["deviations"], agg["checked"], agg["n_rest"], finite, strict=True)]
    d_lo = np.array([e[0] for e in exact], dtype=float)
    d_hi = np.array([e[1] for e in exact], dtype=float)
    unknown = (agg["n_rest"] - rest) + (agg["n_critical"] - agg["critical_checked"])  # nothing checked yet
    agg["projected_absent"] = agg["critical_deviations"] + rest * agg["rate"].fillna(0)
    agg["projected_low"] = agg["critical_deviations"] + np.where(np.isnan(d_lo), rest * lo, d_lo)
    agg["projected_high"] = agg["critical_deviations"] + np.where(np.isnan(d_hi), rest * hi, d_hi) + unknown
    complete = (agg["checked"] >= agg["n_random"]) & (agg["critical_checked"] >= agg["n_critical"])
    passed = np.where(finite, agg["upper"] < tolerable - _EPS, agg["upper"] <= tolerable + _EPS)
    agg["verdict"] = np.select([~complete, passed], [contract.ACCEPTANCE_VERDICTS["incomplete"],
                                                     contract.ACCEPTANCE_VERDICTS["pass"]],
                               contract.ACCEPTANCE_VERDICTS["fail"])
    agg["tolerable"] = tolerable
    return pd.concat([agg, _total_row(agg, confidence, tolerable)], ignore_index=True)


def _total_row(agg: pd.DataFrame, confidence: float, tolerable: float) -> pd.DataFrame:
    sums = ["population", "n_critical", "n_rest", "n_random", "checked", "deviations", "critical_checked",
            "critical_deviations", "projected_absent", "projected_low", "projected_high"]
    sums += [c for c in ("n_sample", "open_critical") if c in agg]
    tot = {c: agg[c].sum() for c in sums}
    tot["rate"] = tot["deviations"] / tot["checked"] if tot["checked"] else np.nan
    tot["cp_upper"] = float(clopper_pearson(tot["deviations"], tot["checked"], confidence)[1])
    tot["upper"] = tot["cp_upper"]
    verdicts = set(agg["verdict"])
    v = contract.ACCEPTANCE_VERDICTS
    tot["verdict"] = v["incomplete"] if v["incomplete"] in verdicts or not len(agg) else (
        v["fail"] if v["fail"] in verdicts else v["pass"])
    tot["tolerable"] = tolerable
    tot["unit_code"] = contract.ALL_UNITS
    tot["unit_name"] = contract.ALL_UNITS
    return pd.DataFrame([tot])


# ------------------------------------------------------------------------------------------ workspace layer
SCHEMA = """
CREATE TABLE IF NOT EXISTS sample_plan (
    plan_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, seed BIGINT, ratio DOUBLE, force_critical BOOLEAN,
    confidence DOUBLE, tolerable DOUBLE, expected DOUBLE, no_mutual BOOLEAN, avoid_last BOOLEAN,
    findings_run_id BIGINT, as_of DATE, parameters VARCHAR);
CREATE TABLE IF NOT EXISTS sample_units (
    plan_id VARCHAR, universe VARCHAR, stratum VARCHAR, stratum_name VARCHAR, unit_code VARCHAR,
    unit_name VARCHAR, staff BIGINT, n_critical_findings BIGINT, risk_score DOUBLE, weight DOUBLE, u DOUBLE,
    forced BOOLEAN, "rank" BIGINT, n_stratum BIGINT, take BIGINT, picked BOOLEAN, reason VARCHAR,
    team_region VARCHAR, team_name VARCHAR, population BIGINT, n_critical BIGINT, n_rest BIGINT,
    n_random BIGINT, n_sample BIGINT, method VARCHAR);
CREATE TABLE IF NOT EXISTS sample_rotation (
    plan_id VARCHAR, team_region VARCHAR, team_name VARCHAR, inspected_region VARCHAR, inspected_name VARCHAR);
CREATE TABLE IF NOT EXISTS sample_persons (
    plan_id VARCHAR, sample_no BIGINT, team_region VARCHAR, team_name VARCHAR, unit_code VARCHAR,
    org_code VARCHAR, org_name VARCHAR, id_number VARCHAR, name VARCHAR, stratum VARCHAR, draw_order BIGINT);
CREATE TABLE IF NOT EXISTS sample_acceptance (
    plan_id VARCHAR, evaluated_at TIMESTAMP, universe VARCHAR, unit_code VARCHAR, unit_name VARCHAR,
    team_name VARCHAR, population BIGINT, n_critical BIGINT, n_rest BIGINT, n_random BIGINT, checked BIGINT,
    deviations BIGINT, rate DOUBLE, cp_upper DOUBLE, upper DOUBLE, tolerable DOUBLE, verdict VARCHAR,
    critical_checked BIGINT, critical_deviations BIGINT, projected_absent DOUBLE, projected_low DOUBLE,
    projected_high DOUBLE, open_critical BIGINT);
"""


def init_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the sampling tables (idempotent)."""
    con.execute(SCHEMA)


def latest_findings(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Findings of the latest finished check run (empty before the first ``workbench check``)."""
    from . import rules

    return rules.latest_findings(con)


def _latest_run_id(con: duckdb.DuckDBPyConnection) -> int | None:
    return con.execute("SELECT max(run_id) FROM finding_runs WHERE finished_at IS NOT NULL").fetchone()[0]


_MEMBERS_SQL = f"""
WITH RECURSIVE scope AS (
    SELECT org_code, any_value(org_name) AS org_name, any_value(region_code) AS region_code,
           any_value(nullif(parent_org_code, '')) AS parent
    FROM orgs WHERE coalesce(psi_class, '') <> '{contract.OUT_OF_SCOPE_PSI}' GROUP BY org_code),
prov AS (
    SELECT org_code AS unit_code, org_code FROM scope
    WHERE region_code = '{contract.PROVINCE_UNIT_REGION}' AND parent IS NULL
    UNION
    SELECT p.unit_code, s.org_code FROM prov p JOIN scope s ON s.parent = p.org_code)
SELECT 'provincial' AS universe, unit_code, org_code FROM prov
UNION ALL
SELECT 'county', region_code, org_code FROM scope WHERE region_code IN (SELECT unit_code FROM _wb_counties)
"""


def sampling_frame(con: duckdb.DuckDBPyConnection, findings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Both universes with strata, staff, critical-finding counts, risk score and weight (one row per unit)."""
    findings = latest_findings(con) if findings is None else findings
    counties = regions.county_level()[["region_code", "name", "city_code"]].rename(
        columns={"region_code": "unit_code", "name": "unit_name", "city_code": "stratum"})
    counties["stratum_name"] = counties["stratum"].map(regions.name_of)
    sev = pd.DataFrame({"severity": list(SEVERITY_WEIGHTS), "sev_w": list(SEVERITY_WEIGHTS.values())})
    cur = con.cursor()
    cur.register("_wb_counties", counties)
    cur.register("_wb_findings", findings[["severity", "region_code", "org_code"]])
    cur.register("_wb_sev", sev)
    try:
        return cur.execute(f"""
        WITH members AS ({_MEMBERS_SQL}),
        units AS (
            SELECT 'county' AS universe, stratum, stratum_name, unit_code, unit_name FROM _wb_counties
            UNION ALL
            SELECT 'provincial', '{contract.PROVINCE_UNIT_REGION}', '{contract.SAMPLE_UNIVERSES["provincial"]}',
                   m.unit_code, any_value(o.org_name)
            FROM members m JOIN orgs o ON o.org_code = m.unit_code
            WHERE m.universe = 'provincial' GROUP BY m.unit_code),
        staffn AS (
            SELECT m.universe, m.unit_code, count(*) AS staff
            FROM (SELECT DISTINCT org_code, id_number FROM staff) s JOIN members m USING (org_code)
            GROUP BY ALL),
        hits AS (
            SELECT 'county' AS universe, f.region_code AS unit_code, f.severity FROM _wb_findings f
            WHERE f.region_code IN (SELECT unit_code FROM _wb_counties)
            UNION ALL
            SELECT 'provincial', m.unit_code, f.severity
            FROM _wb_findings f JOIN members m ON m.org_code = f.org_code AND m.universe = 'provincial'),
        score AS (
            SELECT universe, unit_code, sum(coalesce(w.sev_w, 0)) AS points,
                   count(*) FILTER (WHERE severity = 'critical') AS n_critical_findings
            FROM hits LEFT JOIN _wb_sev w USING (severity) GROUP BY ALL)
        SELECT u.*, coalesce(s.staff, 0) AS staff,
               coalesce(sc.n_critical_findings, 0) AS n_critical_findings,
               100.0 * coalesce(sc.points, 0) / greatest(coalesce(s.staff, 0), 1) AS risk_score,
               1 + 100.0 * coalesce(sc.points, 0) / greatest(coalesce(s.staff, 0), 1) AS weight
        FROM units u LEFT JOIN staffn s USING (universe, unit_code) LEFT JOIN score sc USING (universe, unit_code)
        ORDER BY universe, stratum, unit_code""").df()
    finally:
        cur.close()


def person_frame(con: duckdb.DuckDBPyConnection, unit_codes: pd.DataFrame,
                 findings: pd.DataFrame | None = None, seed: int | None = None) -> pd.DataFrame:
    """Persons of the picked units (universe, unit_code): staff rows of their in-scope organisations plus
    anyone with a critical finding there — for a county, any critical finding of that region, e.g. someone
    paid by an unregistered unit — flagged ``critical``."""
    findings = latest_findings(con) if findings is None else findings
    counties = regions.county_level()[["region_code"]].rename(columns={"region_code": "unit_code"})
    crit = findings.loc[(findings["severity"] == "critical") & findings["id_number"].notna()
                        & (findings["id_number"].astype("string") != ""), ["org_code", "id_number", "region_code"]]
    u = "" if seed is None else ", " + key_sql(seed, "pe.unit_code", "pe.org_code", "pe.id_number") + " AS u"
    cur = con.cursor()
    cur.register("_wb_counties", counties)
    cur.register("_wb_picked", unit_codes[["universe", "unit_code"]])
    cur.register("_wb_crit", crit)
    try:
        return cur.execute(f"""
        WITH members AS ({_MEMBERS_SQL}),
        m AS (SELECT * FROM members JOIN _wb_picked USING (universe, unit_code)),
        crit AS (SELECT DISTINCT org_code, id_number, region_code FROM _wb_crit),
        rostered AS (
            SELECT m.universe, m.unit_code, s.org_code, s.id_number, min(s.name) AS name
            FROM staff s JOIN m USING (org_code) WHERE s.id_number IS NOT NULL GROUP BY ALL),
        flagged AS (  -- critical persons not on the roster of the unit (e.g. paid, not on the roster)
            SELECT * FROM (
                SELECT m.universe, m.unit_code, c.org_code, c.id_number FROM crit c JOIN m USING (org_code)
                UNION
                SELECT p.universe, p.unit_code, c.org_code, c.id_number
                FROM crit c JOIN _wb_picked p ON p.universe = 'county' AND c.region_code = p.unit_code) f
            WHERE NOT EXISTS (SELECT 1 FROM rostered r WHERE r.unit_code = f.unit_code
                              AND r.org_code = f.org_code AND r.id_number = f.id_number)),
        others AS (
            SELECT org_code, id_number, min(name) AS name FROM (
                SELECT org_code, id_number, name FROM payroll
                UNION ALL SELECT org_code, id_number, name FROM offstaff) x
            WHERE name IS NOT NULL AND (org_code, id_number) IN (SELECT (org_code, id_number) FROM flagged)
            GROUP BY ALL),
        people AS (
            SELECT * FROM rostered
            UNION ALL
            SELECT f.*, o.name FROM flagged f LEFT JOIN others o USING (org_code, id_number))
        SELECT pe.universe, pe.unit_code, pe.org_code, o.org_name, pe.id_number, pe.name,
               c.org_code IS NOT NULL AS critical{u}
        FROM people pe
        LEFT JOIN (SELECT org_code, any_value(org_name) AS org_name FROM orgs GROUP BY org_code) o
               ON o.org_code = pe.org_code
        LEFT JOIN (SELECT DISTINCT org_code, id_number FROM crit) c
               ON c.org_code = pe.org_code AND c.id_number = pe.id_number
        ORDER BY pe.unit_code, pe.org_code, pe.id_number""").df()
    finally:
        cur.close()


@dataclass
class Plan:
    """A drawn plan: parameters and its tables (not yet stored)."""

    params: dict
    units: pd.DataFrame  # every unit of both universes, picks marked
    rotation: pd.DataFrame
    sizes: pd.DataFrame  # per picked unit
    persons: pd.DataFrame  # chosen persons with sample_no
    plan_id: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def picked(self) -> pd.DataFrame:
        return self.units[self.units["picked"]].reset_index(drop=True)


def draw_plan(con: duckdb.DuckDBPyConnection, seed: int, ratio: float = DEFAULT_RATIO, *,
              force_critical: bool = False, confidence: float = DEFAULT_CONFIDENCE,
              tolerable: float = DEFAULT_TOLERABLE, expected: float = DEFAULT_EXPECTED,
              no_mutual: bool = False, avoid: pd.DataFrame | None = None) -> Plan:
    """Draw the whole plan from a workspace connection (read-only is enough): units, rotation, persons."""
    attribute_sample_size(confidence, tolerable, expected)  # validates the rates up front
    findings = latest_findings(con)
    units = select_units(sampling_frame(con, findings), ratio, seed, force_critical)
    cities = regions.regions().query("level == 'city'")
    rot = rotation(cities, seed, no_mutual=no_mutual, avoid=avoid)
    team = dict(zip(rot["inspected_region"], rot["team_region"], strict=True))
    units["team_region"] = np.where(units["universe"] == "county", units["stratum"].map(team), PROVINCE_TEAM_CODE)
    units["team_name"] = np.where(units["universe"] == "county",
                                  units["team_region"].map(regions.name_of) + contract.TEAM_SUFFIX,
                                  contract.PROVINCE_TEAM)
    picked = units[units["picked"]]
    population = person_frame(con, picked, findings, seed)
    sizes = person_sizes(population, confidence, tolerable, expected)
    sizes = picked[["universe", "unit_code", "unit_name", "team_region", "team_name"]].merge(
        sizes, on="unit_code", how="left")
    for c in ("population", "n_critical", "n_rest", "n_random", "n_sample"):
        sizes[c] = sizes[c].fillna(0).astype(int)
    sizes["method"] = sizes["method"].fillna(sample_size_method(0))
    persons = draw_persons(population, sizes, seed)
    persons = persons.merge(sizes[["unit_code", "team_region", "team_name"]], on="unit_code", how="left")
    persons = persons.sort_values(["team_region", "unit_code", "org_code", "stratum", "draw_order"],
                                  kind="mergesort").reset_index(drop=True)
    persons["sample_no"] = np.arange(1, len(persons) + 1)
    units = units.merge(sizes[["unit_code", "population", "n_critical", "n_rest", "n_random", "n_sample",
                               "method"]], on="unit_code", how="left")
    params = {"seed": int(seed), "ratio": float(ratio), "force_critical": bool(force_critical),
              "confidence": float(confidence), "tolerable": float(tolerable), "expected": float(expected),
              "no_mutual": bool(no_mutual), "avoid_last": avoid is not None and len(avoid) > 0,
              "findings_run_id": _latest_run_id(con)}
    return Plan(params, units, rot, sizes, persons)


def store_plan(con: duckdb.DuckDBPyConnection, plan: Plan) -> str:
    """Insert the plan into sample_plan / sample_units / sample_rotation / sample_persons; returns plan_id."""
    from . import workspace

    init_tables(con)
    n = con.execute("SELECT count(*) FROM sample_plan").fetchone()[0]
    plan_id = f"P{n + 1:03d}-S{plan.params['seed']}"
    p = plan.params
    con.execute("INSERT INTO sample_plan VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        plan_id, dt.datetime.now(), p["seed"], p["ratio"], p["force_critical"], p["confidence"], p["tolerable"],
        p["expected"], p["no_mutual"], p["avoid_last"], p["findings_run_id"], workspace.as_of(con),
        json.dumps(p, ensure_ascii=False)])
    for table, frame in (("sample_units", plan.units), ("sample_rotation", plan.rotation),
                         ("sample_persons", plan.persons)):
        _insert(con, table, frame.assign(plan_id=plan_id))
    plan.plan_id = plan_id
    return plan_id


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    data = frame.reindex(columns=cols)
    cur = con.cursor()
    cur.register("_wb_rows", data)
    try:
        quoted = ", ".join(f'"{c}"' for c in cols)
        cur.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM _wb_rows")
    finally:
        cur.close()


def load_plan(con: duckdb.DuckDBPyConnection, plan_id: str | None = None) -> Plan:
    """A stored plan (the latest when plan_id is None)."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "sample_plan" not in tables or not con.execute("SELECT count(*) FROM sample_plan").fetchone()[0]:
        raise SamplingError("工作区中还没有抽查计划，请先运行 workbench sample --seed … 生成计划。")
    if plan_id is None:
        plan_id = con.execute("SELECT plan_id FROM sample_plan ORDER BY created_at DESC, plan_id DESC"
                              " LIMIT 1").fetchone()[0]
    row = con.execute("SELECT parameters FROM sample_plan WHERE plan_id = ?", [plan_id]).fetchone()
    if row is None:
        raise SamplingError(f"抽查计划“{plan_id}”不存在。")

    def get(table: str, order: str) -> pd.DataFrame:
        return con.execute(f"SELECT * EXCLUDE (plan_id) FROM {table} WHERE plan_id = ? ORDER BY {order}",
                           [plan_id]).df()

    units = get("sample_units", 'universe, stratum, "rank"')
    sizes = units[units["picked"]][["universe", "unit_code", "unit_name", "team_region", "team_name", "population",
                                    "n_critical", "n_rest", "n_random", "n_sample", "method"]]
    return Plan(json.loads(row[0]), units, get("sample_rotation", "team_region"), sizes.reset_index(drop=True),
                get("sample_persons", "sample_no"), plan_id)


def onsite_results(con: duckdb.DuckDBPyConnection, plan_id: str) -> pd.DataFrame:
    """sample_no → the latest recorded result of the plan (later loads and rows win)."""
    return con.execute(f"""
        SELECT sample_no, onsite_result FROM {contract.ONSITE.table}
        WHERE plan_id = ? AND onsite_result IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY sample_no ORDER BY _load_id DESC NULLS LAST,
                                   _row DESC NULLS LAST) = 1""", [plan_id]).df()


def onsite_problems(con: duckdb.DuckDBPyConnection, plan_id: str) -> pd.DataFrame:
    """Returned rows that do not fit the plan (an unknown 抽样序号, or one whose 机构代码 differs from the
    plan's): file, sheet, row, column and a Chinese message. Such rows do not count in the evaluation
    unless their 抽样序号 is in the plan."""
    on = contract.ONSITE
    no_h, org_h = on.column("sample_no").header, on.column("org_code").header
    cur = con.cursor()
    try:
        return cur.execute(f"""
            SELECT r._file AS file, r._sheet AS sheet, r._row AS "row",
                   CASE WHEN p.sample_no IS NULL THEN '{no_h}' ELSE '{org_h}' END AS "column",
                   CASE WHEN p.sample_no IS NULL
                        THEN '抽样序号' || r.sample_no || '不在抽查计划' || r.plan_id || '中，该行不计入评价'
                        ELSE '抽样序号' || r.sample_no || '的机构代码应为' || p.org_code || '，表中为'
                             || coalesce(r.org_code, '空') || '，请核对是否错行' END AS message
            FROM {on.table} r
            LEFT JOIN sample_persons p ON p.plan_id = r.plan_id AND p.sample_no = r.sample_no
            WHERE r.plan_id = ? AND (p.sample_no IS NULL OR p.org_code IS DISTINCT FROM r.org_code)
            ORDER BY 1, 2, 3""", [plan_id]).df()
    finally:
        cur.close()


def evaluate_plan(con: duckdb.DuckDBPyConnection, plan_id: str | None = None) -> pd.DataFrame:
    """The acceptance table of a stored plan from the loaded 实地核查 results and the latest findings."""
    plan = load_plan(con, plan_id)
    res = onsite_results(con, plan.plan_id)
    persons = plan.persons.merge(res, on="sample_no", how="left")
    frame = sampling_frame(con)
    open_crit = frame.set_index(["universe", "unit_code"])["n_critical_findings"]
    sizes = plan.sizes.copy()
    sizes["open_critical"] = [int(open_crit.get((u, c), 0)) for u, c in
                              zip(sizes["universe"], sizes["unit_code"], strict=True)]
    table = evaluate_results(persons, sizes, plan.params["confidence"], plan.params["tolerable"])
    table.insert(0, "plan_id", plan.plan_id)
    return table


def store_acceptance(con: duckdb.DuckDBPyConnection, table: pd.DataFrame) -> None:
    """Replace the stored acceptance table of the plan(s) in ``table``."""
    init_tables(con)
    for pid in table["plan_id"].unique():
        con.execute("DELETE FROM sample_acceptance WHERE plan_id = ?", [pid])
    _insert(con, "sample_acceptance", table.assign(evaluated_at=dt.datetime.now()))


# ------------------------------------------------------------------------------------------ presentation
def zh(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Selected columns with their Chinese headers (contract.SAMPLE_HEADERS); codes shown in Chinese."""
    out = frame[columns] if columns else frame
    out = out.copy()
    for c in ("risk_score", "weight"):
        if c in out:
            out[c] = out[c].round(2)
    if "picked_share" in out:
        out["picked_share"] = out["picked_share"].map("{:.1%}".format)
    if "universe" in out:
        out["universe"] = out["universe"].map(contract.SAMPLE_UNIVERSES).fillna(out["universe"])
    for c in ("forced", "picked"):
        if c in out:
            out[c] = out[c].map({True: "是", False: "否"})
    return out.rename(columns=contract.SAMPLE_HEADERS)


UNIT_COLUMNS = ["universe", "stratum_name", "unit_code", "unit_name", "staff", "n_critical_findings",
                "risk_score", "weight", "forced", "rank", "take", "n_stratum", "reason", "team_name"]
SIZE_COLUMNS = ["universe", "unit_code", "unit_name", "team_name", "population", "n_critical", "n_rest",
                "method", "n_random", "n_sample"]
ACCEPTANCE_COLUMNS = ["unit_code", "unit_name", "team_name", "population", "n_critical", "critical_deviations",
                      "n_random", "checked", "deviations", "rate", "cp_upper", "upper", "tolerable", "verdict",
                      "projected_absent", "projected_low", "projected_high", "open_critical"]


def team_sheets(plan: Plan) -> dict[str, pd.DataFrame]:
    """Team sheet name → the 实地核查 rows (ONSITE's columns and headers, masked IDs, empty result columns)."""
    p = plan.persons.copy()
    p["plan_id"] = plan.plan_id
    p["id_number"] = ids.mask_ids(p["id_number"]).to_numpy()
    onsite = contract.ONSITE
    sheets = {}
    for team_name, rows in p.groupby("team_name", sort=False):
        frame = rows.reindex(columns=list(onsite.names)).sort_values("sample_no")
        sheets[str(team_name)[:31]] = frame.rename(columns={c.name: c.header for c in onsite.columns})
    return sheets


def write_workbooks(plan: Plan, out_dir) -> dict[str, str]:
    """The inspectors' workbook (one sheet per team, loadable as 实地核查) and the plan overview workbook."""
    from pathlib import Path

    from . import xlsx

    out_dir = Path(out_dir)
    onsite = contract.ONSITE
    headers = {c.name: c.header for c in onsite.columns}
    specs = [xlsx.SheetSpec(
        name=name, frame=frame,
        text_columns=[headers[c] for c in ("plan_id", "team_region", "org_code", "id_number")],
        dropdowns={headers["onsite_result"]: contract.ONSITE_RESULTS},
        notes={headers["onsite_result"]: "请从下拉列表选择：" + "、".join(contract.ONSITE_RESULTS),
               headers["sample_no"]: "请勿修改：按抽样序号匹配样本"},
        widths={headers["org_name"]: 30, headers["id_number"]: 22})
        for name, frame in team_sheets(plan).items()]
    books = {}
    books["onsite"] = str(xlsx.write_workbook(out_dir / f"{contract.ONSITE_BOOK}_{plan.plan_id}.xlsx", specs))
    s_units, s_strata, s_rot, s_sizes = contract.SAMPLE_PLAN_SHEETS
    overview = [
        xlsx.SheetSpec(s_units, zh(plan.picked, UNIT_COLUMNS), widths={contract.SAMPLE_HEADERS["reason"]: 60}),
        xlsx.SheetSpec(s_strata, zh(strata_summary(plan.units))),
        xlsx.SheetSpec(s_rot, zh(plan.rotation)),
        xlsx.SheetSpec(s_sizes, zh(plan.sizes, SIZE_COLUMNS)),
    ]
    books["plan"] = str(xlsx.write_workbook(out_dir / f"{contract.SAMPLE_PLAN_BOOK}_{plan.plan_id}.xlsx", overview))
    return books


def rotation_figure(rot: pd.DataFrame):
    """A Sankey diagram: each team (left) → the city it inspects (right)."""
    import plotly.graph_objects as go

    cities = list(rot["team_name"])
    left = {n: i for i, n in enumerate(cities)}
    right = {n: len(cities) + i for i, n in enumerate(cities)}
    fig = go.Figure(go.Sankey(
        node={"label": [c + contract.TEAM_SUFFIX for c in cities] + cities, "pad": 8},
        link={"source": [left[t] for t in rot["team_name"]],
              "target": [right[n] for n in rot["inspected_name"]],
              "value": [1] * len(rot)}))
    fig.update_layout(title_text="互检互查轮换安排（检查组 → 被检查市州）", height=520)
    return fig
