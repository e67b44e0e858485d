"""Citizen ID (GB 11643) and USCC (GB 32100) checks, derived attributes and masking (DESIGN §4).

The checks are written once, as DuckDB macros, so the rules run them set-based inside the workspace;
the Python functions below apply the same macros to a pandas Series / array (vectorised, no row loops).
Pure helpers for single values (``id_check_char``, ``uscc_check_char``) serve the generator and tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"  # index = weighted sum mod 11
PROVINCE_CODES = (
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
    50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
MIN_BIRTH = dt.date(1900, 1, 1)


# ------------------------------------------------------------------------------------------ scalar helpers
def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits of a citizen ID."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total) % 31]


def mask_id(value: str | None) -> str | None:
    """``620102199001011234`` -> ``620102********1234``; short values are fully starred."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return value
    s = str(value)
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


# ------------------------------------------------------------------------------------------ SQL macros
def _sum_sql(arg: str, n: int, weights, digit) -> str:
    return " + ".join(f"{digit(f'substr({arg}, {i + 1}, 1)')} * {w}" for i, w in zip(range(n), weights, strict=True))


_ID_SUM = _sum_sql("s", 17, ID_WEIGHTS, lambda c: f"TRY_CAST({c} AS INTEGER)")
_USCC_SUM = _sum_sql("s", 17, USCC_WEIGHTS, lambda c: f"(instr('{USCC_ALPHABET}', {c}) - 1)")
_PROVINCES = ", ".join(f"'{p}'" for p in PROVINCE_CODES)
_PROVINCE_INTS = ", ".join(str(p) for p in PROVINCE_CODES)
# the ISO 7064 MOD 11-2 sum over the 17 digits of n = k // 11 (wb_id_key), by integer arithmetic
_KEY_SUM = " + ".join(f"(k // {11 * 10 ** (16 - i)} % 10) * {w}" for i, w in enumerate(ID_WEIGHTS))

MACROS = f"""
CREATE OR REPLACE MACRO wb_id_birth(s) AS
    CASE WHEN regexp_full_match(s, '[0-9]{{17}}[0-9X]')
         THEN TRY_CAST(try_strptime(substr(s, 7, 8), '%Y%m%d') AS DATE) END;
CREATE OR REPLACE MACRO wb_id_sex(s) AS
    CASE WHEN regexp_full_match(s, '[0-9]{{17}}[0-9X]')
         THEN CASE WHEN CAST(substr(s, 17, 1) AS INTEGER) % 2 = 1 THEN '男' ELSE '女' END END;
CREATE OR REPLACE MACRO wb_id_check_ok(s) AS
    regexp_full_match(s, '[0-9]{{17}}[0-9X]')
    AND substr(s, 18, 1) = substr('{ID_CHECK}', (({_ID_SUM}) % 11) + 1, 1);
CREATE OR REPLACE MACRO wb_id_valid(s, as_of) AS
    COALESCE(wb_id_check_ok(s)
        AND substr(s, 1, 2) IN ({_PROVINCES})
        AND wb_id_birth(s) >= DATE '{MIN_BIRTH}'
        AND wb_id_birth(s) <= CAST(as_of AS DATE), FALSE);
CREATE OR REPLACE MACRO wb_id_hashkey(s) AS CASE WHEN s IS NOT NULL THEN -1 - CAST(hash(s) >> 2 AS BIGINT) END;
CREATE OR REPLACE MACRO wb_id_key(s) AS
    CASE WHEN regexp_full_match(s, '[0-9]{{17}}[0-9X]')
         THEN CAST(substr(s, 1, 17) AS BIGINT) * 11
              + CASE WHEN substr(s, 18, 1) = 'X' THEN 10 ELSE CAST(substr(s, 18, 1) AS BIGINT) END
         ELSE wb_id_hashkey(s) END;
CREATE OR REPLACE MACRO wb_id_born(k, s) AS
    CASE WHEN k >= 0 AND k // {11 * 10 ** 15} IN ({_PROVINCE_INTS}) AND k // {11 * 10 ** 7} % 10000 >= {MIN_BIRTH.year}
              AND k % 11 = (12 - ({_KEY_SUM}) % 11) % 11
         THEN TRY_CAST(try_strptime(substr(s, 7, 8), '%Y%m%d') AS DATE) END;
CREATE OR REPLACE MACRO wb_age(birth, as_of) AS
    year(CAST(as_of AS DATE)) - year(birth)
    - CASE WHEN month(CAST(as_of AS DATE)) * 100 + day(CAST(as_of AS DATE)) < month(birth) * 100 + day(birth)
           THEN 1 ELSE 0 END;
CREATE OR REPLACE MACRO wb_uscc_valid(s) AS
    COALESCE(regexp_full_match(s, '[{USCC_ALPHABET}]{{2}}[0-9]{{6}}[{USCC_ALPHABET}]{{10}}')
        AND substr(s, 18, 1) = substr('{USCC_ALPHABET}', ((31 - (({_USCC_SUM}) % 31)) % 31) + 1, 1), FALSE);
CREATE OR REPLACE MACRO wb_mask(s) AS
    CASE WHEN s IS NULL THEN NULL
         WHEN length(s) <= 10 THEN repeat('*', length(s))
         ELSE substr(s, 1, 6) || repeat('*', length(s) - 10) || substr(s, length(s) - 3, 4) END;
"""


def install_macros(con: duckdb.DuckDBPyConnection, temp: bool = True) -> duckdb.DuckDBPyConnection:
    """Create the ``wb_*`` macros; temporary ones by default, so read-only connections work too."""
    con.execute(MACROS.replace("MACRO", "TEMP MACRO") if temp else MACROS)
    return con


_con: duckdb.DuckDBPyConnection | None = None


def _local() -> duckdb.DuckDBPyConnection:
    global _con
    if _con is None:
        _con = install_macros(duckdb.connect(), temp=False)
    return _con


def _apply(values: Iterable, expr: str, **params) -> pd.DataFrame:
    frame = pd.DataFrame({"s": pd.Series(list(values) if not isinstance(values, pd.Series) else values,
                                         dtype="string").to_numpy(dtype=object)})
    con = _local().cursor()
    con.register("_ids_in", frame)
    try:
        return con.execute(f"SELECT {expr} FROM _ids_in", params).df()
    finally:
        con.unregister("_ids_in")


# ------------------------------------------------------------------------------------------ vectorised API
def normalize_id(values) -> pd.Series:
    """Trim, NFKC (full-width digits), upper-case the trailing x."""
    s = pd.Series(values, dtype="string")
    return s.str.normalize("NFKC").str.strip().str.replace(r"\s+", "", regex=True).str.upper()


def validate_ids(values, as_of: dt.date | str) -> pd.Series:
    """Boolean Series: valid per DESIGN §4 (checksum, province, real birth date in [1900-01-01, as_of])."""
    return _apply(values, "wb_id_valid(s, $as_of) AS v", as_of=str(as_of))["v"].astype(bool)


def id_attributes(values, as_of: dt.date | str) -> pd.DataFrame:
    """valid, sex, birth_date and completed age at as_of (null where the ID is invalid)."""
    return _apply(
        values,
        "wb_id_valid(s, $as_of) AS valid,"
        " CASE WHEN wb_id_valid(s, $as_of) THEN wb_id_sex(s) END AS sex,"
        " CASE WHEN wb_id_valid(s, $as_of) THEN wb_id_birth(s) END AS birth_date,"
        " CASE WHEN wb_id_valid(s, $as_of) THEN wb_age(wb_id_birth(s), $as_of) END AS age",
        as_of=str(as_of),
    )


def validate_uscc(values) -> pd.Series:
    """Boolean Series: a valid GB 32100 unified social credit code."""
    return _apply(values, "wb_uscc_valid(s) AS v")["v"].astype(bool)


def mask_ids(values) -> pd.Series:
    """Vectorised masking, same output as :func:`mask_id`."""
    return _apply(values, "wb_mask(s) AS m")["m"]


# ------------------------------------------------------------------------------------------ Arrow (intake)
_CHECK_VALUE = np.array([10 if c == "X" else int(c) for c in ID_CHECK], dtype=np.int64)  # sum % 11 -> value
_PROVINCE_OK = np.isin(np.arange(100), PROVINCE_CODES)


def _id_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(rows, bytes): the rows of ``arr`` holding exactly 18 bytes and those bytes as an (m, 18) uint8 array."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    if arr.null_count == 0 and (lengths == 18).all():  # the usual case: a view, no copy
        return np.arange(n), data[offsets[0]:offsets[-1]].reshape(n, 18)
    keep = lengths == 18
    if arr.null_count:
        keep &= arr.is_valid().to_numpy(zero_copy_only=False)
    return np.flatnonzero(keep), _id_bytes(arr.filter(pa.array(keep)))[1]  # (filtered: all 18 bytes)


def id_columns(arr: pa.Array, born: bool = False) -> tuple[pa.Array, pa.Array | None]:
    """``wb_id_key`` (and ``wb_id_born`` when asked) of normalised IDs, in numpy on the string bytes — no Python
    objects, and the GIL released for the heavy parts, so intake's reader threads compute them.

    Keys are null where the ID is not 17 digits + [0-9X] (intake adds the hash key of those in SQL); birth
    dates are null unless the ID passes every check of DESIGN §4 but the one against as_of."""
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    n = len(arr)
    keys, ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    dates, good = np.zeros(n, dtype="datetime64[D]"), np.zeros(n, dtype=bool)
    rows, b = _id_bytes(arr) if n else (np.zeros(0, dtype=np.int64), np.zeros((0, 18), dtype=np.uint8))
    if len(rows):
        digits = b[:, :17] - np.uint8(48)  # bytes below '0' wrap around to > 9
        last = b[:, 17]
        well = (digits.max(axis=1) <= 9) & (((last >= 48) & (last <= 57)) | (last == 88))
        rows, digits, last = rows[well], digits[well], last[well]
        value = np.where(last == 88, 10, last.astype(np.int64) - 48)
        num = np.zeros(len(rows), dtype=np.int64)
        for j in range(17):  # Horner: 17 vector steps instead of an integer matmul
            num = num * 10 + digits[:, j]
        keys[rows], ok[rows] = num * 11 + value, True
        if born:
            total = np.zeros(len(rows), dtype=np.int32)
            for j, w in enumerate(ID_WEIGHTS):
                total += digits[:, j].astype(np.int32) * w
            y, m, d = num // 10**7 % 10**4, num // 10**5 % 100, num // 10**3 % 100
            first = (np.clip(y, 1900, 9999) - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (np.clip(m, 1, 12) - 1)
            start = first.astype("datetime64[D]")
            length = ((first + 1).astype("datetime64[D]") - start).astype(np.int64)
            fine = (_CHECK_VALUE[total % 11] == value) & _PROVINCE_OK[num // 10**15] & (y >= MIN_BIRTH.year) \
                & (m >= 1) & (m <= 12) & (d >= 1) & (d <= length)
            dates[rows], good[rows] = start + (d - 1), fine
    return pa.array(keys, mask=~ok), (pa.array(dates, type=pa.date32(), mask=~good) if born else None)
