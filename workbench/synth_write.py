"""Sample-province generator, part 4: sheet frames with dirty-but-valid cells, rejects, fast writing.

Dirty variants (all normalise back to the canonical values, so they change no finding): full-width
digits in IDs and codes, lower-case x, leading/trailing/inner spaces, dates as Excel date cells and
as text in every accepted format, blank quotas / posts (= 0), blank 领导职务层次 (= 无), a GBK CSV.
Rejected rows are extra rows (fresh IDs / codes) inserted at random places; their position, column
and reason go to expected_rejects.csv.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from . import contract as C

DATE_FORMATS = ("%Y-%m-%d", "{y}/{m}/{d}", "{y}.{m}.{d}", "%Y%m%d", "{y}年{m}月{d}日")
_FW = str.maketrans("0123456789", "０１２３４５６７８９")
REJECT = "_reject"  # hidden column: (column header, reason) of a planted bad row


def fullwidth(s: str) -> str:
    return s.translate(_FW)


def pick(rng: np.random.Generator, n: int, frac: float, minimum: int = 3, exclude=None) -> np.ndarray:
    """Random row positions: about frac × n, at least ``minimum`` (when there are rows)."""
    pool = np.arange(n) if exclude is None else np.flatnonzero(~exclude)
    k = min(len(pool), max(minimum, int(frac * n)))
    return rng.choice(pool, size=k, replace=False) if k else np.array([], dtype=int)


def dirty_ids(rng: np.random.Generator, ids: pd.Series, frac: float = 0.015) -> np.ndarray:
    """IDs with some full-width, some padded with spaces, many trailing X in lower case."""
    out = ids.to_numpy(dtype=object).copy()
    n = len(out)
    if not n:
        return out
    fw = pick(rng, n, frac)
    out[fw] = [fullwidth(s) for s in out[fw]]
    sp = pick(rng, n, frac, exclude=np.isin(np.arange(n), fw))
    out[sp] = [(" " + s + "  ") if i % 2 else (s + " ") for i, s in enumerate(out[sp])]
    ends_x = np.array([isinstance(s, str) and s.endswith("X") for s in out])
    lx = np.flatnonzero(ends_x & (rng.random(n) < 0.4))
    out[lx] = [s[:-1] + "x" for s in out[lx]]
    return out


def dirty_codes(rng: np.random.Generator, codes: pd.Series, frac: float = 0.01) -> np.ndarray:
    out = codes.to_numpy(dtype=object).copy()
    n = len(out)
    if not n:
        return out
    present = np.array([isinstance(s, str) for s in out])
    fw = pick(rng, n, frac, exclude=~present)
    out[fw] = [fullwidth(s) for s in out[fw]]
    sp = pick(rng, n, frac, exclude=~present | np.isin(np.arange(n), fw))
    out[sp] = [" " + s + " " for s in out[sp]]
    return out


def dirty_dates(rng: np.random.Generator, dates, text_frac: float = 0.4) -> np.ndarray:
    """Dates as Excel date cells (datetime) or as text in each accepted format; NaT → blank."""
    ts = pd.to_datetime(pd.Series(dates))
    n = len(ts)
    out = np.empty(n, dtype=object)
    fmt = rng.integers(0, len(DATE_FORMATS), n)
    text = rng.random(n) < text_frac
    # every format at least once, whatever the size
    for f in range(min(len(DATE_FORMATS), n)):
        text[f], fmt[f] = True, f
    for i, (t, is_text, f) in enumerate(zip(ts, text, fmt, strict=True)):
        if pd.isna(t):
            out[i] = None
        elif is_text:
            spec = DATE_FORMATS[f]
            out[i] = t.strftime(spec) if spec.startswith("%") else spec.format(y=t.year, m=t.month, d=t.day)
        else:
            out[i] = dt.datetime(t.year, t.month, t.day)
    return out


def blank_zero(rng: np.random.Generator, values, frac: float = 0.5) -> np.ndarray:
    """Integer counts as numbers, with about half of the zeros left blank (blank = 0)."""
    v = np.asarray(values).astype(object)
    zero = (np.asarray(values) == 0) & (rng.random(len(v)) < frac)
    v[zero] = None
    return v


def headers(sheet: C.Sheet, frame: pd.DataFrame) -> pd.DataFrame:
    """Rename canonical columns to the contract's Chinese headers (keeps the hidden reject column)."""
    cols = [c.name for c in sheet.columns]
    out = frame.reindex(columns=[*cols, REJECT] if REJECT in frame else cols)
    return out.rename(columns={c.name: c.header for c in sheet.columns})


# ------------------------------------------------------------------------------------------ writing
TEXT_TYPES = (C.ID, C.USCC, C.REGION, C.TEXT, C.CODE, C.MONTH)


def write_xlsx(path: Path, sheets: list[tuple[C.Sheet, pd.DataFrame]]) -> None:
    """Write sheets fast (xlsxwriter constant_memory): text columns formatted '@', strings never turned
    into formulas/numbers/URLs, datetime cells with a date format, numbers as numbers, None blank."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    big = sum(len(f) for _, f in sheets) > 20000  # stream big sheets; keep small workbooks in memory
    wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": big, "in_memory": not big,
                                        "strings_to_formulas": False, "strings_to_numbers": False,
                                        "strings_to_urls": False})
    wb.set_properties({"created": dt.datetime(2014, 4, 1), "author": "workbench synth"})  # byte-stable output
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = wb.add_format({"num_format": "@"})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    for sheet, frame in sheets:
        ws = wb.add_worksheet(sheet.name)
        frame = frame.drop(columns=[REJECT], errors="ignore")
        by_header = {c.header: c for c in sheet.columns}
        for j, col in enumerate(frame.columns):
            c = by_header[col]
            ws.set_column(j, j, 22 if c.type in (C.ID, C.USCC) else 14, text if c.type in TEXT_TYPES else None)
            ws.write_string(0, j, col, head)
        ws.freeze_panes(1, 0)
        columns = [frame[c].to_numpy(dtype=object) for c in frame.columns]
        for i, row in enumerate(zip(*columns, strict=True), start=1):
            for j, v in enumerate(row):
                if v is None:
                    continue
                t = type(v)
                if t is str:
                    ws.write_string(i, j, v, text)
                elif v is pd.NaT or (t is float and v != v):  # missing
                    continue
                elif isinstance(v, dt.datetime):
                    ws.write_datetime(i, j, pd.Timestamp(v).to_pydatetime(), date)
                else:
                    ws.write_number(i, j, v)
    wb.close()
    tmp.replace(path)


def write_gbk_csv(path: Path, sheet: C.Sheet, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=[REJECT], errors="ignore").to_csv(path, index=False, encoding="gbk")


def reject_positions(frame: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(spreadsheet row, column, reason) of the planted bad rows of a sheet frame (header = row 1)."""
    if REJECT not in frame:
        return []
    marks = frame[REJECT].to_numpy(dtype=object)
    return [(i + 2, m[0], m[1]) for i, m in enumerate(marks) if isinstance(m, tuple)]


def insert_row(rng: np.random.Generator, frame: pd.DataFrame, row: dict, column: str, reason: str,
               after: int = -1) -> pd.DataFrame:
    """Insert a planted bad row at a random place (after position ``after``)."""
    row = {**row, REJECT: (column, reason)}
    if REJECT not in frame:
        frame = frame.assign(**{REJECT: None})
    lo = after + 1
    pos = int(rng.integers(lo, len(frame) + 1)) if len(frame) >= lo else len(frame)
    new = pd.DataFrame([row], columns=frame.columns).astype(object)
    return pd.concat([frame.iloc[:pos].astype(object), new, frame.iloc[pos:].astype(object)], ignore_index=True)
