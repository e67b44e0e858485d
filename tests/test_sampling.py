"""Pure sampling functions: unit sample, rotation, attribute-sample sizes, exact bounds, evaluation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from workbench import contract, sampling

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def frames(draw):
    """A sampling frame: a few strata of 1–15 units with positive weights and some critical findings."""
    sizes = draw(st.lists(st.integers(1, 15), min_size=1, max_size=8))
    rows = []
    for h, n in enumerate(sizes):
        universe = "provincial" if h == len(sizes) - 1 and len(sizes) > 1 else "county"
        for i in range(n):
            rows.append({"universe": universe, "stratum": f"S{h}", "stratum_name": f"层{h}",
                         "unit_code": f"U{h:02d}{i:02d}",
                         "weight": draw(st.floats(0.1, 50, allow_nan=False)),
                         "n_critical_findings": draw(st.sampled_from([0, 0, 0, 1, 3]))})
    return pd.DataFrame(rows)


ratios = st.floats(0.01, 1.0, allow_nan=False)
seeds = st.integers(0, 2**40)


def picks(df: pd.DataFrame) -> set[str]:
    return set(df.loc[df["picked"], "unit_code"])


# ------------------------------------------------------------------------------------------ unit sample
@FAST
@given(frames(), ratios, seeds, st.booleans())
def test_ratio_holds_in_every_stratum_and_overall(frame, ratio, seed, force):
    out = sampling.select_units(frame, ratio, seed, force)
    for _, g in out.groupby(["universe", "stratum"]):
        n, k = len(g), int(g["picked"].sum())
        forced = int((g["n_critical_findings"] > 0).sum()) if force else 0
        smallest = next(m for m in range(n + 1) if m >= ratio * n - 1e-9)  # ceil(ratio × n), by search
        assert k == max(smallest, forced)
        if force:
            assert g.loc[g["n_critical_findings"] > 0, "picked"].all()
        assert (g["reason"].str.len() > 0).all()
    for _, g in out.groupby("universe"):
        assert g["picked"].sum() >= ratio * len(g) - 1e-9
    assert len(out) == len(frame)


@FAST
@given(frames(), ratios, seeds, st.booleans(), st.randoms())
def test_same_seed_same_plan_whatever_the_row_order(frame, ratio, seed, force, rnd):
    a = sampling.select_units(frame, ratio, seed, force)
    shuffled = frame.sample(frac=1, random_state=rnd.randint(0, 10**6))
    b = sampling.select_units(shuffled, ratio, seed, force)
    assert picks(a) == picks(b)
    key = ["unit_code", "rank", "reason"]
    assert a.sort_values("unit_code")[key].to_numpy().tolist() == b.sort_values("unit_code")[key].to_numpy().tolist()


@FAST
@given(frames(), ratios, ratios, seeds, st.booleans())
def test_higher_ratio_keeps_earlier_picks(frame, r1, r2, seed, force):
    low, high = sorted((r1, r2))
    assert picks(sampling.select_units(frame, low, seed, force)) <= picks(sampling.select_units(frame, high, seed,
                                                                                                force))


def test_seed_matters_and_risk_weights_pull():
    frame = pd.DataFrame({"universe": "county", "stratum": "S", "unit_code": [f"U{i}" for i in range(10)],
                          "weight": [100.0] + [1.0] * 9})
    chosen = [sampling.select_units(frame, 0.1, seed).query("picked")["unit_code"].item() for seed in range(300)]
    share = chosen.count("U0") / len(chosen)
    assert 0.85 < share < 0.98  # Efraimidis–Spirakis: P = 100 / 109 ≈ 0.92
    assert len(set(chosen)) > 3  # other units do get picked: the seed matters


def test_select_units_rejects_bad_ratio():
    frame = pd.DataFrame({"universe": ["county"], "stratum": ["S"], "unit_code": ["U"], "weight": [1.0]})
    for bad in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(sampling.SamplingError, match="抽取比例"):
            sampling.select_units(frame, bad, 1)


def test_keys_are_md5_based_and_portable():
    import hashlib

    a, b = pd.Series(["county", "provincial", None]), pd.Series(["620102", "12620000X", "z"])
    got = sampling.uniform_keys(20140331, a, b)
    want = [(int(hashlib.md5(f"20140331|{'' if pd.isna(x) else x}|{y}".encode()).hexdigest()[:13], 16) + 0.5) / 16**13
            for x, y in zip(a, b, strict=True)]
    assert got.tolist() == pytest.approx(want, rel=0, abs=1e-15)
    assert ((got > 0) & (got < 1)).all()


def test_take_count_is_immune_to_float_noise():
    assert sampling.take_count(0.7, 10) == 7
    assert sampling.take_count(0.4, 5) == 2
    assert sampling.take_count(0.4, 6) == 3
    assert sampling.take_count(0.4, 1) == 1


# ------------------------------------------------------------------------------------------ rotation
def feasible(codes, no_mutual, banned) -> bool:
    """Brute force: does any assignment meet the constraints?"""
    for perm in itertools.permutations(codes):
        m = dict(zip(codes, perm, strict=True))
        if any(a == b or (a, b) in banned for a, b in m.items()):
            continue
        if no_mutual and any(m[m[a]] == a for a in codes):
            continue
        return True
    return False


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7), seeds, st.booleans(), st.data())
def test_rotation_meets_constraints_or_says_why(n, seed, no_mutual, data):
    codes = [f"62{i:02d}00" for i in range(1, n + 1)]
    pairs = [(a, b) for a in codes for b in codes if a != b]
    banned = set(data.draw(st.lists(st.sampled_from(pairs), max_size=len(pairs)), label="banned")) if pairs else set()
    avoid = pd.DataFrame(sorted(banned), columns=["team_region", "inspected_region"]) if banned else None
    if feasible(codes, no_mutual, banned):
        rot = sampling.rotation(codes, seed, no_mutual=no_mutual, avoid=avoid)
        m = dict(zip(rot["team_region"], rot["inspected_region"], strict=True))
        assert sorted(m) == codes and sorted(m.values()) == codes  # every city inspects and is inspected once
        assert all(a != b for a, b in m.items())
        assert not banned & set(m.items())
        if no_mutual:
            assert all(m[m[a]] != a for a in codes)
    else:
        with pytest.raises(sampling.SamplingError) as err:
            sampling.rotation(codes, seed, no_mutual=no_mutual, avoid=avoid)
        assert "市州" in str(err.value) and ("无法" in str(err.value) or "至少" in str(err.value))


@FAST
@given(seeds, st.booleans())
def test_rotation_of_the_fourteen_cities(seed, no_mutual):
    from workbench import regions

    cities = regions.regions().query("level == 'city'")
    a = sampling.rotation(cities, seed, no_mutual=no_mutual)
    b = sampling.rotation(cities.iloc[::-1], seed, no_mutual=no_mutual)
    assert a.equals(b)
    assert len(a) == 14 and (a["team_region"] != a["inspected_region"]).all()
    assert a["inspected_region"].is_unique
    assert not a["team_name"].str.fullmatch(r"\d+").any()


def test_rotation_clear_messages():
    with pytest.raises(sampling.SamplingError, match="只有2个市州时，任何轮换都是互查对调"):
        sampling.rotation(["620100", "620200"], 1, no_mutual=True)
    with pytest.raises(sampling.SamplingError, match="至少需要2个市州"):
        sampling.rotation(["620100"], 1)
    avoid = pd.DataFrame({"team_region": ["620100", "620200"], "inspected_region": ["620200", "620100"]})
    with pytest.raises(sampling.SamplingError, match=r"兰州市.*没有可检查的市州"):
        sampling.rotation(["620100", "620200"], 1, avoid=avoid)
    seeds_differ = {tuple(sampling.rotation([f"62{i:02d}00" for i in range(1, 9)], s)["inspected_region"])
                    for s in range(20)}
    assert len(seeds_differ) > 10


# ------------------------------------------------------------------------------------------ sample sizes
#: AICPA Audit Sampling guide, statistical sample sizes for tests of controls (large populations):
#: (confidence, tolerable rate, expected rate) -> sample size.
PUBLISHED = [
    (0.95, 0.05, 0.0, 59), (0.95, 0.05, 0.01, 93), (0.95, 0.10, 0.0, 29), (0.90, 0.05, 0.0, 45),
    (0.95, 0.02, 0.0, 149), (0.95, 0.03, 0.0, 99), (0.95, 0.04, 0.0, 74), (0.95, 0.06, 0.0, 49),
    (0.95, 0.07, 0.0, 42), (0.95, 0.08, 0.0, 36), (0.95, 0.09, 0.0, 32), (0.95, 0.15, 0.0, 19),
    (0.95, 0.20, 0.0, 14), (0.95, 0.05, 0.0025, 93), (0.95, 0.05, 0.0125, 124), (0.95, 0.05, 0.02, 181),
    (0.95, 0.03, 0.005, 157), (0.95, 0.06, 0.02, 127), (0.95, 0.02, 0.0025, 236),
    (0.90, 0.05, 0.01, 77), (0.90, 0.10, 0.0, 22), (0.90, 0.02, 0.0, 114),
    (0.95, 0.03, 0.0075, 208), (0.95, 0.04, 0.01, 156), (0.95, 0.04, 0.015, 192), (0.95, 0.06, 0.015, 103),
    (0.95, 0.07, 0.02, 88), (0.95, 0.08, 0.02, 77), (0.95, 0.09, 0.02, 68), (0.95, 0.10, 0.02, 46),
]


@pytest.mark.parametrize(("confidence", "tolerable", "expected", "size"), PUBLISHED)
def test_sizes_match_published_tables(confidence, tolerable, expected, size):
    assert sampling.attribute_sample_size(confidence, tolerable, expected) == size
    assert sampling.attribute_sample_size(confidence, tolerable, expected, population=1_000_000) == size


@pytest.mark.parametrize("population", [1, 5, 19, 20, 50, 100, 300, 1000])
def test_small_populations_use_the_hypergeometric(population):
    bad = math.ceil(0.05 * population)  # deviations at the tolerable rate

    def p_zero(n):  # P(no deviation in n draws without replacement), exact with integers
        return math.comb(population - bad, n) / math.comb(population, n)

    n = sampling.attribute_sample_size(0.95, 0.05, 0.0, population)
    assert n <= population and n <= 59
    assert p_zero(n) <= 0.05 or n == population
    assert n == 1 or p_zero(n - 1) > 0.05
    assert sampling.sample_size_method(population) == "超几何分布"


def test_size_rejects_impossible_rates():
    with pytest.raises(sampling.SamplingError, match=r"预期偏差率.*必须小于可容忍偏差率"):
        sampling.attribute_sample_size(0.95, 0.05, 0.05)
    with pytest.raises(sampling.SamplingError, match="置信水平"):
        sampling.attribute_sample_size(1.0, 0.05, 0)
    assert sampling.attribute_sample_size(0.95, 0.05, 0, population=0) == 0


# ------------------------------------------------------------------------------------------ exact bounds
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2000), st.data(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_clopper_pearson_matches_statsmodels(n, data, confidence):
    x = data.draw(st.integers(0, n))
    lo1, up1 = sampling.clopper_pearson(x, n, confidence)
    lo2, up2 = sampling.clopper_pearson(x, n, confidence, two_sided=True)
    ref1 = proportion_confint(x, n, alpha=2 * (1 - confidence), method="beta")
    ref2 = proportion_confint(x, n, alpha=1 - confidence, method="beta")
    assert float(up1) == pytest.approx(ref1[1], abs=1e-10)
    assert float(lo1) == pytest.approx(ref1[0], abs=1e-10)
    assert (float(lo2), float(up2)) == pytest.approx(ref2, abs=1e-10)


def test_clopper_pearson_known_values():
    # zero deviations in 59: the upper bound is 1 - 0.05^(1/59), just under 5 %
    assert float(sampling.clopper_pearson(0, 59, 0.95)[1]) == pytest.approx(1 - 0.05 ** (1 / 59))
    assert float(sampling.clopper_pearson(0, 0, 0.95)[1]) == 1.0


@pytest.mark.parametrize(("x", "n", "population"), [(0, 10, 20), (1, 10, 20), (0, 28, 48), (2, 30, 60), (3, 5, 5)])
def test_hypergeometric_upper_by_brute_force(x, n, population):
    def cdf(d):
        return sum(math.comb(d, i) * math.comb(population - d, n - i) for i in range(x + 1)) / math.comb(population, n)

    best = max(d for d in range(x, population - (n - x) + 1) if cdf(d) > 0.05)
    assert sampling.hypergeometric_upper(x, n, population, 0.95) == pytest.approx(best / population)


@pytest.mark.parametrize(("x", "n", "population"), [(0, 8, 8), (2, 8, 8), (0, 10, 20), (1, 10, 20), (3, 30, 60)])
def test_hypergeometric_interval_by_brute_force(x, n, population):
    def pmf(d, i):
        return math.comb(d, i) * math.comb(population - d, n - i) / math.comb(population, n)

    ds = range(x, population - (n - x) + 1)
    lo = min(d for d in ds if sum(pmf(d, i) for i in range(x, n + 1)) > 0.025)
    hi = max(d for d in ds if sum(pmf(d, i) for i in range(x + 1)) > 0.025)
    assert sampling.hypergeometric_bounds(x, n, population, 0.025) == (lo, hi)
    if n == population:  # a census knows the count exactly
        assert (lo, hi) == (x, x)


# ------------------------------------------------------------------------------------------ persons and evaluation
def population(n_units=4, per_unit=80, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"unit_code": f"U{u}", "org_code": f"O{u}{i % 3}", "id_number": f"{u:02d}{i:06d}",
             "critical": bool(rng.random() < 0.05)} for u in range(n_units) for i in range(per_unit + 10 * u)]
    return pd.DataFrame(rows)


@FAST
@given(seeds, st.integers(0, 200), st.integers(0, 200))
def test_person_sample_takes_critical_and_is_extendable(seed, n1, n2):
    pop = population()
    small, large = sorted((n1, n2))
    sizes = pd.DataFrame({"unit_code": pop["unit_code"].unique()})
    a = sampling.draw_persons(pop, sizes.assign(n_random=small), seed)
    b = sampling.draw_persons(pop.iloc[::-1], sizes.assign(n_random=large), seed)
    key = ["org_code", "id_number"]
    assert set(a[key].itertuples(index=False)) <= set(b[key].itertuples(index=False))
    crit = pop[pop["critical"]]
    assert set(crit[key].itertuples(index=False)) <= set(a[key].itertuples(index=False))
    for unit, g in pop.groupby("unit_code"):
        rest = (~g["critical"]).sum()
        assert ((a["unit_code"] == unit) & (a["stratum"] == "random")).sum() == min(small, rest)


def test_person_sizes_cap_and_method():
    pop = population(n_units=2, per_unit=30)
    sizes = sampling.person_sizes(pop, 0.95, 0.05, 0.0)
    for _, row in sizes.iterrows():
        g = pop[pop["unit_code"] == row["unit_code"]]
        assert row["population"] == len(g) and row["n_critical"] == g["critical"].sum()
        assert row["n_random"] <= row["n_rest"]
        assert row["n_sample"] == row["n_critical"] + row["n_random"]


def test_evaluate_results_counts_bounds_and_verdicts():
    sizes = pd.DataFrame({"unit_code": ["A", "B", "C"], "unit_name": ["甲", "乙", "丙"],
                          "population": [10_062, 10_060, 80], "n_critical": [2, 0, 0],
                          "n_rest": [10_060, 10_060, 80], "n_random": [59, 59, 10]})
    rows = [("A", "critical", "不在岗"), ("A", "critical", "在岗")]
    rows += [("A", "random", "在岗")] * 59
    rows += [("B", "random", "查无此人")] * 2 + [("B", "random", "在岗")] * 57
    rows += [("C", "random", "在岗")] * 9 + [("C", "random", None)]
    persons = pd.DataFrame(rows, columns=["unit_code", "stratum", "onsite_result"])
    out = sampling.evaluate_results(persons, sizes, 0.95, 0.05).set_index("unit_code")
    v = contract.ACCEPTANCE_VERDICTS
    a, b, c, tot = out.loc["A"], out.loc["B"], out.loc["C"], out.loc[contract.ALL_UNITS]
    assert (a["checked"], a["deviations"], a["critical_deviations"], a["verdict"]) == (59, 0, 1, v["pass"])
    assert a["cp_upper"] == pytest.approx(1 - 0.05 ** (1 / 59))
    assert a["projected_absent"] == pytest.approx(1.0)
    assert (b["deviations"], b["verdict"]) == (2, v["fail"])
    assert b["rate"] == pytest.approx(2 / 59)
    ref = proportion_confint(2, 59, alpha=0.05, method="beta")
    assert (b["projected_low"], b["projected_high"]) == pytest.approx((ref[0] * 10_060, ref[1] * 10_060))
    assert b["projected_absent"] == pytest.approx(2 / 59 * 10_060)
    assert (c["checked"], c["verdict"]) == (9, v["incomplete"])
    assert (tot["checked"], tot["deviations"], tot["verdict"]) == (127, 2, v["incomplete"])
    assert tot["cp_upper"] == pytest.approx(proportion_confint(2, 127, alpha=0.1, method="beta")[1])
    assert tot["projected_absent"] == pytest.approx(a["projected_absent"] + b["projected_absent"]
                                                    + c["projected_absent"])
