"""Normalising and validating a chunk of raw cells, column-wise (pyarrow) and set-based (DuckDB SQL).

:func:`prepare` turns a reader chunk into an Arrow table with, per mapped column, the raw text
(``r_<col>``), the normalised text (``v_<col>``: NFKC, trimmed, inner whitespace collapsed; IDs, USCCs
and region codes without spaces and upper-cased) and a flag for numeric ID cells (``k_<col>``).
:func:`stage_sql` is the SELECT that types every column and computes a Chinese reject reason per cell
(``val_<col>``, ``err_<col>``), plus the raw row as JSON — no Python loop over rows anywhere.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import contract, derived, ids, regions
from .readers import Chunk, Header

COMPACT_TYPES = (contract.ID, contract.USCC, contract.REGION)
DATE_FORMATS = "2014-03-31、2014/3/31、2014.3.31、20140331、2014年3月31日"
MONTH_FORMATS = "2014-03、2014/3、201403、2014年3月"
NUMERIC_ID = ("以数值形式存储（Excel 只保留15位有效数字，号码已无法恢复）："
              "请将该列设置为“文本”格式后重新填写")


def q(s: str) -> str:
    """SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def _normalize_all(arr: pa.Array, compact: bool) -> pa.Array:
    """Every step on every value (each step skipped only where the whole column does not need it)."""
    if not pc.all(pc.string_is_ascii(arr)).as_py():  # NFKC only changes non-ASCII text
        arr = pc.utf8_normalize(arr, "NFKC")
    arr = pc.utf8_trim_whitespace(arr)
    if compact:
        if any(_any(pc.match_substring(arr, ch)) for ch in (" ", "\t", "\n", "\r")):
            arr = pc.replace_substring_regex(arr, r"\s+", "")
        arr = pc.ascii_upper(arr)
    elif any(_any(pc.match_substring(arr, ch)) for ch in ("  ", "\t", "\n", "\r")):
        arr = pc.replace_substring_regex(arr, r"\s+", " ")
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _dirty_rows(arr: pa.Array, compact: bool) -> np.ndarray:
    """Rows that normalising may change, found on the column's bytes with numpy (no decoding, no Python string
    work: the reader threads then hold the GIL as little as possible and the inserting thread is not held up).

    Flagged: control bytes and, where compact, spaces and lower-case letters; a character outside ASCII and the
    CJK ideographs U+4000–U+9FFF (NFKC leaves those alone; every other one, Unicode spaces included, may change);
    where not compact, runs of spaces and a space at either end; an empty string (it becomes null). A flagged
    row that needs nothing is left as it is by the full pipeline."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * arr.offset)
    data = arr.buffers()[2]
    base = int(offsets[0])
    raw = (np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(0, np.uint8))
    raw = raw[base:int(offsets[-1])]
    starts, ends = offsets[:-1] - base, offsets[1:] - base
    hits = raw <= 32 if compact else raw < 32
    if compact:
        hits |= (raw - np.uint8(97)) < 26
    hits |= (raw >= 0xC0) & ((raw < 0xE4) | (raw > 0xE9))  # UTF-8 lead bytes outside U+4000–U+9FFF
    if not compact:  # runs of spaces
        hits[:-1] |= (raw[:-1] == 32) & (raw[1:] == 32)
    dirty = np.zeros(n, dtype=bool)
    pos = np.flatnonzero(hits)
    if pos.size:
        dirty[np.searchsorted(ends, pos, side="right")] = True
    empty = ends == starts
    if not compact:  # leading or trailing space
        full = ~empty
        dirty[full] |= (raw[starts[full]] == 32) | (raw[ends[full] - 1] == 32)
    if empty.any():  # an empty string (not a null) becomes null
        dirty |= empty & pc.is_valid(arr).to_numpy(zero_copy_only=False)
    return dirty


def normalize_text(arr: pa.Array, compact: bool = False) -> pa.Array:
    """NFKC, trim, collapse inner whitespace (or remove it and upper-case when ``compact``); '' -> null.

    Only the rows that can change are worked on (found on the column's bytes with numpy): most columns
    of real files are clean, and the pyarrow kernels are then skipped altogether."""
    arr = arr.cast(pa.string()) if arr.type != pa.string() else arr
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not len(arr):
        return arr
    dirty = _dirty_rows(arr, compact)
    if not dirty.any():
        return arr
    if dirty.all():
        return _normalize_all(arr, compact)
    mask = pa.array(dirty)
    return pc.replace_with_mask(arr, mask, _normalize_all(arr.filter(mask), compact))


def _json_str(arr: pa.Array) -> pa.Array:
    """JSON string literals of a text array (null -> null)."""
    for old, new in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        arr = pc.replace_substring(arr, old, new)
    return pc.binary_join_element_wise('"', arr, '"', "")


def _constant(text: str, n: int) -> pa.Array:
    """``n`` times the same text, dictionary-encoded (one copy of the text)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([text], pa.string()))


def prepare(chunk: Chunk, header: Header, load_id: int, file: str, sheet_name: str, order: int) -> pa.Table:
    """A chunk in the canonical layout of its contract sheet: metadata, then ``r_/v_/k_`` for every
    column (all-null where the file lacks it) and ``_xjson``, the unknown columns as a JSON fragment."""
    n = chunk.table.num_rows
    by_name = {name: j for j, name in header.columns.items()}
    cols: dict[str, pa.Array] = {
        "_load_id": pa.repeat(pa.scalar(load_id, pa.int64()), n),
        "_file": _constant(file, n),
        "_sheet": _constant(sheet_name, n),
        "_ord": pa.repeat(pa.scalar(order, pa.int32()), n),
        "_row": chunk.rows,
    }
    no = pa.repeat(pa.scalar(False), n)
    for col in header.sheet.columns:
        j = by_name.get(col.name)
        if j is None:
            raw = pa.nulls(n, pa.string())
            cols[f"r_{col.name}"], cols[f"v_{col.name}"], cols[f"k_{col.name}"] = raw, raw, no
            continue
        raw = chunk.table.column(f"c{j}").combine_chunks().cast(pa.string())
        cols[f"r_{col.name}"] = raw
        cols[f"v_{col.name}"] = normalize_text(raw, compact=col.type in COMPACT_TYPES)
        flag = chunk.numeric.get(f"c{j}")
        cols[f"k_{col.name}"] = flag if flag is not None else no
    pieces, extras = [], []
    seen = {c.header for c in header.sheet.columns}
    for j, h in header.extras.items():
        key = h or f"第{j + 1}列"
        while key in seen:
            key += "_"
        seen.add(key)
        raw = chunk.table.column(f"c{j}").combine_chunks().cast(pa.string())
        extras.append(normalize_text(raw))
        pieces.append(pc.binary_join_element_wise(json.dumps(key, ensure_ascii=False) + ": ",
                                                  pc.fill_null(_json_str(raw), "null"), ""))
    cols["_xjson"] = pc.binary_join_element_wise(*pieces, ", ") if pieces else pa.nulls(n, pa.string())
    values = [cols[f"v_{c.name}"] for c in header.sheet.columns] + extras
    cols["_nonempty"] = pc.is_valid(pc.coalesce(*values))
    names = dict(derived.columns(header.sheet))
    if names:  # the ID key (and birth date) here, in the reader thread, rather than in the database
        cols[derived.KEY], born = ids.id_columns(cols["v_id_number"], born=derived.BORN in names)
        if born is not None:
            cols[derived.BORN] = born
    return pa.table(cols)


# ------------------------------------------------------------------------------------------ SQL
def _date_sql(v: str, fast: bool = True) -> str:
    """2014-03-31, 2014/3/31, 2014.3.31, 2014年3月31日 (a time part ignored), 20140331 -> DATE; else NULL."""
    iso = (f"regexp_replace({v}, '^([0-9]{{4}})(?:[-/.]|年)([0-9]{{1,2}})(?:[-/.]|月)([0-9]{{1,2}})日?"
           f"(?:[ T][0-9]{{1,2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:\\.[0-9]+)?)?)?$', '\\1-\\2-\\3')")
    # the common shapes (an Excel date cell comes as 2014-03-31 00:00:00) skip the regex: for a trimmed value
    # with '-' as 5th and 8th character, the regex would leave the first 10 characters or nothing to parse
    iso_shape = (f"substr({v}, 5, 1) = '-' AND substr({v}, 8, 1) = '-' AND "
                 f"(strlen({v}) = 10 OR (strlen({v}) = 19 AND suffix({v}, ' 00:00:00')))")
    fast_path = f"WHEN {iso_shape} THEN try_strptime(substr({v}, 1, 10), '%Y-%m-%d') " if fast else ""
    return (f"CAST(CASE {fast_path}"
            f"WHEN regexp_full_match({v}, '[0-9]{{8}}') THEN try_strptime({v}, '%Y%m%d') "
            f"ELSE try_strptime({iso}, '%Y-%m-%d') END AS DATE)")


def _month_sql(v: str, fast: bool = True) -> str:
    """2014-03, 2014/3, 2014.3, 2014年3月, 201403 or a full date -> 'YYYY-MM'; else NULL."""
    ym = (f"regexp_replace(regexp_replace({v}, '^([0-9]{{4}})(?:[-/.]|年)([0-9]{{1,2}})"
          f"(?:月|(?:[-/.]|月)[0-9]{{1,2}}日?(?:[ T][0-9:.]+)?)?$', '\\1-\\2'), '^([0-9]{{4}})([0-9]{{2}})$', '\\1-\\2')")
    if fast:  # the regexes keep 2014-03 as it is
        ym = f"CASE WHEN strlen({v}) = 7 AND substr({v}, 5, 1) = '-' THEN {v} ELSE {ym} END"
    return f"strftime(try_strptime(({ym}) || '-01', '%Y-%m-%d'), '%Y-%m')"


def _number_text_sql(v: str, fast: bool = True) -> str:
    """A number's text without thousands separators, currency signs, 元 or spaces."""
    strip = f"regexp_replace({v}, '[,，¥￥元 ]', '', 'g')"
    if not fast:
        return strip
    # ASCII without commas or spaces: nothing to strip, the regex is skipped
    return f"CASE WHEN strlen({v}) = length({v}) AND NOT contains({v}, ',') AND NOT contains({v}, ' ') THEN {v} ELSE {strip} END"


@functools.cache  # (built once per column: intake asks for it at every batch)
def column_sql(col: contract.Column) -> tuple[str, str]:
    """(typed value expression, reject-reason expression) for one column over ``v_/r_/k_`` inputs."""
    v, k = ident(f"v_{col.name}"), ident(f"k_{col.name}")
    h = col.header
    required = f"WHEN {v} IS NULL THEN {q(f'必填项“{h}”为空')}" if col.required else ""
    shown = f"'“' || {v} || '”'"
    t = col.type
    if t == contract.ID:
        val = v
        err = (f"CASE WHEN {k} OR (contains({v}, 'E') AND regexp_full_match({v}, '[0-9](\\.[0-9]+)?E\\+?[0-9]+')) "
               f"THEN {q(f'“{h}”' + NUMERIC_ID)} {required} END")
    elif t == contract.CODE:
        val = f"COALESCE({v}, {q(col.blank)})" if col.blank is not None else v
        codes = ", ".join(q(c) for c in col.codes)
        err = (f"CASE {required} WHEN {val} IS NOT NULL AND {val} NOT IN ({codes}) THEN "
               f"{q(f'“{h}”的值')} || {shown} || {q('不在代码表中，应为：' + '、'.join(col.codes))} END")
    elif t == contract.REGION:
        val = v
        codes = ", ".join(q(c) for c in regions.regions()["region_code"])
        err = (f"CASE {required} WHEN {v} NOT IN ({codes}) THEN "
               f"{q(f'“{h}”')} || {shown} || '不在甘肃省行政区划代码表（data/regions.csv）中' END")
    elif t in (contract.INT, contract.MONEY):
        s = _number_text_sql(v)
        d = f"TRY_CAST({s} AS DOUBLE)"
        if t == contract.INT:
            blank = f"CAST({q(col.blank)} AS BIGINT)" if col.blank is not None else "NULL"
            val = f"CASE WHEN {v} IS NULL THEN {blank} ELSE TRY_CAST({d} AS BIGINT) END"
            err = (f"CASE {required} WHEN {v} IS NOT NULL AND {d} IS NULL THEN {q(f'“{h}”的值')} || {shown} || '不是数字，应为非负整数'"
                   f" WHEN {d} < 0 THEN {q(f'“{h}”的值')} || {shown} || '为负数，应为非负整数'"
                   f" WHEN {d} <> floor({d}) OR {d} > 9e15 THEN {q(f'“{h}”的值')} || {shown} || '不是整数，应为非负整数' END")
        else:
            val = f"TRY_CAST({s} AS DECIMAL(14,2))"
            err = (f"CASE {required} WHEN {v} IS NOT NULL AND ({d} IS NULL OR abs({d}) >= 1e12) THEN "
                   f"{q(f'“{h}”的值')} || {shown} || '不是有效金额' END")
    elif t == contract.DATE:
        val = _date_sql(v)
        err = (f"CASE {required} WHEN {v} IS NOT NULL AND {val} IS NULL THEN {q(f'“{h}”的日期')} || {shown} || "
               f"{q('不存在或格式无法识别（可用格式：' + DATE_FORMATS + '）')} END")
    elif t == contract.MONTH:
        val = _month_sql(v)
        err = (f"CASE {required} WHEN {v} IS NOT NULL AND {val} IS NULL THEN {q(f'“{h}”的月份')} || {shown} || "
               f"{q('无效（可用格式：' + MONTH_FORMATS + '）')} END")
    else:  # TEXT, USCC: loaded as normalised text (an invalid USCC is reported by a rule, not rejected)
        val = v
        err = f"CASE {required} END" if required else "NULL"
    if err == "CASE  END":
        err = "NULL"
    return val, err


@functools.cache
def stage_sql(sheet: contract.Sheet, source: str) -> str:
    """SELECT over prepared chunks (non-empty rows): metadata, the raw cells (``r_*``, ``_xjson``), ``val_*``,
    ``err_*`` and ``_bad`` (any error), in the input's row order."""
    parts = ["_load_id", "_file", "_sheet", "_ord", "_row", "_xjson", *(ident("r_" + c.name) for c in sheet.columns),
             *(n for n, _ in derived.columns(sheet))]
    errs = []
    for col in sheet.columns:
        val, err = column_sql(col)
        parts.append(f"{val} AS {ident('val_' + col.name)}")
        parts.append(f"CAST({err} AS VARCHAR) AS {ident('err_' + col.name)}")
        if err != "NULL":
            errs.append(ident("err_" + col.name))
    bad = f"COALESCE({', '.join(errs)}) IS NOT NULL" if errs else "FALSE"
    return f"SELECT *, {bad} AS _bad FROM (SELECT {', '.join(parts)} FROM {source})"


@functools.cache
def raw_json_sql(sheet: contract.Sheet) -> str:
    """JSON object of the raw cells of a row (Chinese header -> text), unknown columns included."""
    items = ", ".join(f"{q(c.header)}: {ident('r_' + c.name)}" for c in sheet.columns)
    obj = f"CAST(to_json({{{items}}}) AS VARCHAR)"
    return f"CASE WHEN _xjson IS NULL THEN {obj} ELSE rtrim({obj}, '}}') || ', ' || _xjson || '}}' END"
