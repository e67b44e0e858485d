"""workbench.ids against python-stdnum and against independent re-statements of DESIGN §4.

stdnum gives the checksum (``ric.calc_check_digit``, ``uscc.is_valid``) and the calendar date of the
birth part (``ric.get_birth_date``). What stdnum does not define the same way (the province list, the
1900-01-01 … as_of range, sex, age, masking) is re-stated here from DESIGN §4, not taken from ids.py.
``ric.validate`` itself is never used as the oracle: it also checks the birth county (and raises
KeyError on some codes), which DESIGN §4 deliberately does not.
"""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from workbench import ids

AS_OF = dt.date(2014, 3, 31)
# DESIGN §4, typed from the spec (not imported from ids.py)
PROVINCES = {f"{p:02d}" for lo, hi in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65),
                                          (71, 71), (81, 83)) for p in range(lo, hi + 1)}
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# ------------------------------------------------------------------------------------------ oracles
def ric_checksum_ok(s: str) -> bool:
    """stdnum's checksum on an already-normalised 18-char value (no case folding)."""
    if len(s) != 18 or not s[:17].isascii() or not s[:17].isdigit() or s[17] not in "0123456789X":
        return False
    return ric.calc_check_digit(s) == s[17]


def stdnum_birth(s: str) -> dt.date | None:
    try:
        return ric.get_birth_date(s)
    except (ValidationError, ValueError):
        return None


def expected_valid(s: str | None, as_of: dt.date = AS_OF) -> bool:
    if s is None or not ric_checksum_ok(s):
        return False
    birth = stdnum_birth(s)
    return s[:2] in PROVINCES and birth is not None and dt.date(1900, 1, 1) <= birth <= as_of


def expected_age(birth: dt.date, as_of: dt.date) -> int:
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def make_id(rng: random.Random, province: str | None = None, birth: dt.date | None = None,
            seq: int | None = None) -> str:
    province = province or rng.choice(sorted(PROVINCES))
    area = province + f"{rng.randrange(100):02d}{rng.randrange(100):02d}"
    birth = birth or dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange((AS_OF - dt.date(1900, 1, 1)).days + 1))
    seq = rng.randrange(1000) if seq is None else seq
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def corruptions(rng: random.Random, s: str) -> list[str]:
    """Single-digit change, adjacent transposition, wrong check char, lower-case x, 15-digit, non-digit."""
    out = []
    i = rng.randrange(17)
    out.append(s[:i] + str((int(s[i]) + rng.randrange(1, 10)) % 10) + s[i + 1:])
    j = rng.randrange(16)
    out.append(s[:j] + s[j + 1] + s[j] + s[j + 2:])
    out.append(s[:17] + rng.choice([c for c in "0123456789X" if c != s[17]]))
    out.append(s[:17] + s[17].lower())
    out.append(s[:6] + s[8:14] + s[14:17])  # the old 15-digit form
    k = rng.randrange(17)
    out.append(s[:k] + rng.choice("AOBI -/") + s[k + 1:])
    out.append(s[:17])  # too short
    out.append(s + "0")  # too long
    return out


@pytest.fixture(scope="module")
def id_sample() -> list[str]:
    rng = random.Random(20140331)
    valid = [make_id(rng) for _ in range(1500)]
    corrupted = [c for s in valid[:700] for c in corruptions(rng, s)]
    # impossible dates and out-of-range dates, with a correct checksum
    odd_dates = []
    for _ in range(400):
        y = rng.choice([1899, 1900, 1985, 2000, 2013, 2014, 2015, 2100, 1800])
        m, d = rng.choice([(2, 29), (2, 30), (4, 31), (13, 1), (0, 10), (6, 0), (12, 31), (3, 31), (4, 1), (1, 1)])
        first17 = f"{rng.choice(sorted(PROVINCES))}0102{y:04d}{m:02d}{d:02d}{rng.randrange(1000):03d}"
        odd_dates.append(first17 + ric.calc_check_digit(first17 + "0"))
    # every two-digit prefix, checksum correct
    prefixes = []
    for p in range(100):
        first17 = f"{p:02d}0102198807150{p % 10}1"[:17]
        prefixes.append(first17 + ric.calc_check_digit(first17 + "0"))
    return valid + corrupted + odd_dates + prefixes + ["", "X" * 18, "１１０１０５１９４９１２３１００２Ｘ"]


# ------------------------------------------------------------------------------------------ ID validity
def test_sample_is_mixed(id_sample):
    expected = [expected_valid(s) for s in id_sample]
    assert len(id_sample) > 7000
    assert 1500 <= sum(expected) < len(id_sample) - 3000


def test_validate_ids_matches_design(id_sample):
    got = ids.validate_ids(id_sample, AS_OF).tolist()
    wrong = [s for s, g in zip(id_sample, got, strict=True) if g != expected_valid(s)]
    assert wrong == []


def test_checksum_matches_stdnum(id_sample):
    con = ids.install_macros(duckdb.connect())
    got = con.execute("SELECT COALESCE(wb_id_check_ok(s), FALSE) FROM unnest($v) t(s)", {"v": id_sample}).fetchall()
    wrong = [s for s, (g,) in zip(id_sample, got, strict=True) if g != ric_checksum_ok(s)]
    assert wrong == []


def test_birth_matches_stdnum(id_sample):
    con = ids.install_macros(duckdb.connect())
    got = con.execute("SELECT wb_id_birth(s) FROM unnest($v) t(s)", {"v": id_sample}).fetchall()
    for s, (g,) in zip(id_sample, got, strict=True):
        if not (len(s) == 18 and s[:17].isascii() and s[:17].isdigit() and s[17] in "0123456789X"):
            assert g is None, s
        else:
            assert g == stdnum_birth(s), s


def test_valid_with_stdnum_county_agrees(id_sample):
    """Where stdnum can judge the full number (real county), stdnum-valid and in range means valid for us."""
    rng = random.Random(11)
    real_counties = ["620102", "620103", "110105", "440305", "310115", "510107", "650102", "710000"]
    sample = [make_id(rng) for _ in range(200)]
    sample += [c + s[6:17] + ric.calc_check_digit(c + s[6:17] + "0")
               for c in real_counties for s in sample[:100]]
    judged = []
    for s in sample + id_sample:
        try:
            ok = ric.is_valid(s)
        except KeyError:  # stdnum's county table lookup fails on some codes
            continue
        if ok and dt.date(1900, 1, 1) <= ric.get_birth_date(s) <= AS_OF:
            judged.append(s)
    assert len(judged) >= 300
    assert ids.validate_ids(judged, AS_OF).all()


def test_lower_case_x_valid_after_normalisation():
    rng = random.Random(1)
    with_x = []
    while len(with_x) < 50:
        s = make_id(rng)
        if s.endswith("X"):
            with_x.append(s)
    raw = [s[:17] + "x" for s in with_x] + [" " + s[:17] + "x " for s in with_x]
    assert ids.normalize_id(raw).tolist() == with_x + with_x
    assert ids.validate_ids(ids.normalize_id(raw), AS_OF).all()
    # stdnum agrees on the checksum of the lower-case form
    assert all(ric.calc_check_digit(s.strip().upper()) == "X" for s in raw)


def test_full_width_normalised():
    assert ids.normalize_id(["６２０１０２１９９００１０１１２３ｘ"]).iloc[0] == "62010219900101123X"


def test_date_range_boundaries():
    def build(birth: dt.date, province: str = "62") -> str:
        first17 = f"{province}0102{birth:%Y%m%d}123"
        return first17 + ric.calc_check_digit(first17 + "0")

    cases = {
        build(AS_OF): True,
        build(AS_OF + dt.timedelta(days=1)): False,
        build(dt.date(1900, 1, 1)): True,
        build(dt.date(1899, 12, 31)): False,
        build(dt.date(1988, 2, 29)): True,
        build(dt.date(1990, 1, 1), "10"): False,
        build(dt.date(1990, 1, 1), "71"): True,
        build(dt.date(1990, 1, 1), "84"): False,
    }
    assert ids.validate_ids(list(cases), AS_OF).tolist() == list(cases.values())
    # the as_of parameter is honoured: a birth after 2014-03-31 becomes valid later
    assert ids.validate_ids([build(dt.date(2015, 6, 1))], "2016-01-01").tolist() == [True]
    assert ids.validate_ids([build(dt.date(2015, 6, 1))], dt.date(2014, 3, 31)).tolist() == [False]


def test_null_and_non_string():
    assert ids.validate_ids([None, pd.NA, "", 620102199001011234], AS_OF).tolist() == [False] * 4


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789Xx ", min_size=0, max_size=20))
def test_validate_ids_property(s):
    assert ids.validate_ids([s], AS_OF).iloc[0] == expected_valid(s)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2014, 3, 31)),
       st.sampled_from(sorted(PROVINCES)), st.integers(0, 999))
def test_generated_valid_property(birth, province, seq):
    first17 = f"{province}0102{birth:%Y%m%d}{seq:03d}"
    s = first17 + ric.calc_check_digit(first17 + "0")
    attrs = ids.id_attributes([s], AS_OF).iloc[0]
    assert bool(attrs["valid"])
    assert pd.Timestamp(attrs["birth_date"]).date() == birth
    assert attrs["sex"] == ("男" if seq % 2 else "女")
    assert attrs["age"] == expected_age(birth, AS_OF)


# ------------------------------------------------------------------------------------------ sex, birth, age
def test_attributes_on_sample(id_sample):
    attrs = ids.id_attributes(id_sample, AS_OF)
    for s, (_, row) in zip(id_sample, attrs.iterrows(), strict=True):
        if expected_valid(s):
            birth = stdnum_birth(s)
            assert row["sex"] == ("男" if int(s[16]) % 2 == 1 else "女"), s
            assert pd.Timestamp(row["birth_date"]).date() == birth, s
            assert row["age"] == expected_age(birth, AS_OF), s
        else:
            assert not row["valid"] and pd.isna(row["sex"]) and pd.isna(row["age"]), s


@pytest.mark.parametrize(("birth", "as_of", "age"), [
    (dt.date(1954, 3, 31), dt.date(2014, 3, 31), 60),  # birthday on as_of
    (dt.date(1954, 4, 1), dt.date(2014, 3, 31), 59),  # birthday the day after as_of
    (dt.date(1954, 3, 30), dt.date(2014, 3, 31), 60),
    (dt.date(1996, 2, 29), dt.date(2014, 2, 28), 17),  # 29 Feb, non-leap as_of
    (dt.date(1996, 2, 29), dt.date(2014, 3, 1), 18),
    (dt.date(1996, 2, 29), dt.date(2016, 2, 29), 20),
    (dt.date(1996, 2, 29), dt.date(2016, 2, 28), 19),
    (dt.date(1996, 3, 1), dt.date(2014, 2, 28), 17),
    (dt.date(1959, 12, 31), dt.date(2014, 12, 31), 55),
    (dt.date(1960, 1, 1), dt.date(2014, 12, 31), 54),
])
def test_age_boundaries(birth, as_of, age):
    assert expected_age(birth, as_of) == age  # the spec's definition, stated independently
    first17 = f"620102{birth:%Y%m%d}123"
    s = first17 + ric.calc_check_digit(first17 + "0")
    assert ids.id_attributes([s], as_of)["age"].tolist() == [age]
    con = ids.install_macros(duckdb.connect())
    assert con.execute("SELECT wb_age($b, $a)", {"b": birth, "a": str(as_of)}).fetchone()[0] == age


# ------------------------------------------------------------------------------------------ USCC
def make_uscc(rng: random.Random, digits_prefix: bool = True) -> str:
    head = (rng.choice("123456789") + rng.choice("123459")) if digits_prefix else \
        (rng.choice(USCC_CHARS) + rng.choice(USCC_CHARS))
    body = head + f"{rng.randrange(10 ** 6):06d}" + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def test_uscc_matches_stdnum():
    rng = random.Random(32100)
    good = [make_uscc(rng) for _ in range(1500)]
    bad = []
    for s in good[:800]:
        i = rng.randrange(18)
        bad.append(s[:i] + rng.choice([c for c in USCC_CHARS if c != s[i]]) + s[i + 1:])
        j = rng.randrange(17)
        bad.append(s[:j] + s[j + 1] + s[j] + s[j + 2:])
        bad.append(s[:17] + rng.choice("IOZSV"))
        bad.append(s[:17])
        bad.append(s.lower())
    sample = good + bad
    got = ids.validate_uscc(sample).tolist()
    expected = [s == s.upper() and uscc.is_valid(s) for s in sample]  # stdnum folds case, we do not
    assert sum(expected) >= 1500
    assert [s for s, g, e in zip(sample, got, expected, strict=True) if g != e] == []


def test_uscc_letter_authority_codes():
    """GB 32100 allows letters as registration authority/type (e.g. N2, Y1); stdnum demands digits."""
    rng = random.Random(5)
    codes = [make_uscc(rng, digits_prefix=False) for _ in range(300)]
    check_ok = [uscc.calc_check_digit(s) == s[17] for s in codes]
    assert ids.validate_uscc(codes).tolist() == check_ok
    assert all(check_ok)
    assert not ids.validate_uscc(["N2620102MA0000000" + "I", None, "", "12345"]).any()


# ------------------------------------------------------------------------------------------ masking
def test_mask():
    values = ["620102199001011234", "62010219900101123X", "123", None, "12345678901"]
    expected = ["620102********1234", "620102********123X", "***", None, "123456*8901"]
    assert [ids.mask_id(v) for v in values] == expected
    got = ids.mask_ids(values).tolist()
    assert [None if pd.isna(g) else g for g in got] == expected


def test_mask_sample(id_sample):
    long = [s for s in id_sample if len(s) == 18]
    got = ids.mask_ids(long).tolist()
    assert got == [s[:6] + "********" + s[14:] for s in long]
    assert all(ids.mask_id(s) == g for s, g in zip(long, got, strict=True))


# ------------------------------------------------------------------------------------------ ID keys (derived columns)
def test_id_columns_birth_is_the_design_validity_without_as_of(id_sample):
    """``id_columns`` (numpy, intake's readers): a birth date exactly where the ID is valid as of any day after it,
    equal to stdnum's; a key for every well-formed ID, one-to-one with the text."""
    import pyarrow as pa

    keys, born = ids.id_columns(pa.array([*id_sample, None], pa.string()), born=True)
    far = dt.date(2100, 12, 31)
    for s, k, b in zip(id_sample, keys.to_pylist(), born.to_pylist(), strict=False):
        assert b == (stdnum_birth(s) if expected_valid(s, far) else None), s
        well_formed = len(s) == 18 and s[:17].isascii() and s[:17].isdigit() and s[17] in "0123456789X"
        assert (k is not None) == well_formed, s
        if k is not None:
            assert k == int(s[:17]) * 11 + (10 if s[17] == "X" else int(s[17]))
    assert keys[-1].as_py() is None and born[-1].as_py() is None


def test_id_columns_equal_the_sql_macros(id_sample):
    """The numpy key/birth date equal ``wb_id_key`` / ``wb_id_born`` (used for rows not written by intake);
    a slice gives the same values as the whole array."""
    import pyarrow as pa

    arr = pa.array([*id_sample, *id_sample, *id_sample, None, "", "6201021980010100１X"], pa.string())
    keys, born = ids.id_columns(arr, born=True)
    k2, b2 = ids.id_columns(arr.slice(5, 1000), born=True)
    assert k2.equals(keys.slice(5, 1000)) and b2.equals(born.slice(5, 1000))
    con = ids.install_macros(duckdb.connect())
    con.register("t", pa.table({"s": arr, "k": keys, "b": born}))
    bad = con.execute("""SELECT count(*) FILTER (WHERE k IS DISTINCT FROM CASE WHEN wb_id_key(s) >= 0 THEN wb_id_key(s) END),
                                count(*) FILTER (WHERE b IS DISTINCT FROM wb_id_born(wb_id_key(s), s)),
                                count(*) FILTER (WHERE s IS NOT NULL AND wb_id_key(s) IS NULL),
                                count(DISTINCT wb_id_key(s)) = count(DISTINCT s)
                         FROM t""").fetchall()[0]
    assert bad == (0, 0, 0, True)
