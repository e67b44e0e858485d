"""Writing workbooks people open in Excel: formula-safe, IDs as text, frozen headers, drop-downs.

Every workbook the workbench writes (templates, rejects, findings, exchange requests, inspectors'
workbooks, rectification ledgers) goes through :func:`write_workbook`, so no exported cell ever becomes
a formula: values starting with ``= + - @`` are written as plain strings, and xlsxwriter's
string-to-formula/number/url conversions are off.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xlsxwriter

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class SheetSpec:
    """One sheet to write: data plus presentation hints keyed by column label."""

    name: str
    frame: pd.DataFrame
    text_columns: Sequence[str] = ()  # written with the text number format '@'
    dropdowns: Mapping[str, Sequence[str]] = field(default_factory=dict)  # column -> code list
    widths: Mapping[str, float] = field(default_factory=dict)
    blank_rows: int = 0  # extra empty rows that still carry the drop-downs / text format
    notes: Mapping[str, str] = field(default_factory=dict)  # column -> header comment
    #: column -> extra xlsxwriter data_validation options (e.g. whole numbers >= 0, text length 18)
    validations: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


def safe_text(value: object) -> object:
    """A value as it may go into a CSV cell: strings that a spreadsheet would run get a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell(value: object) -> object:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return value.item()
    return value


def write_workbook(path: str | os.PathLike, sheets: Sequence[SheetSpec], lists_sheet: str = "代码表",
                   properties: Mapping[str, object] | None = None) -> Path:
    """Write the sheets to ``path`` atomically (temp file + rename).

    ``properties`` go to xlsxwriter's ``set_properties`` (a fixed ``created`` makes the bytes reproducible).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        wb = xlsxwriter.Workbook(
            tmp,
            {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
             "constant_memory": False},
        )
        if properties:
            wb.set_properties(dict(properties))
        header = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                "valign": "vcenter"})
        text = wb.add_format({"num_format": "@"})
        date = wb.add_format({"num_format": "yyyy-mm-dd"})
        lists: dict[tuple[str, ...], str] = {}
        worksheets = [wb.add_worksheet(spec.name) for spec in sheets]
        # the code lists go last, after every data sheet
        lists_ws = wb.add_worksheet(lists_sheet) if any(
            codes and col in spec.frame.columns for spec in sheets for col, codes in spec.dropdowns.items()
        ) else None
        for spec, ws in zip(sheets, worksheets, strict=True):
            cols = list(spec.frame.columns)
            for j, col in enumerate(cols):
                ws.write_string(0, j, str(col), header)
                if col in spec.notes:
                    ws.write_comment(0, j, spec.notes[col])
                width = spec.widths.get(col, max(10, min(40, 2.2 * len(str(col)) + 2)))
                ws.set_column(j, j, width, text if col in spec.text_columns else None)
            for i, row in enumerate(spec.frame.itertuples(index=False, name=None), start=1):
                for j, value in enumerate(row):
                    v = _cell(value)
                    if v is None:
                        continue
                    if isinstance(v, str):
                        ws.write_string(i, j, v)
                    elif hasattr(v, "year"):
                        ws.write_datetime(i, j, v, date)
                    else:
                        ws.write(i, j, v)
            last = len(spec.frame) + max(spec.blank_rows, 0)
            for col, codes in spec.dropdowns.items():
                if col not in cols or not codes:
                    continue
                j = cols.index(col)
                key = tuple(codes)
                if key not in lists:
                    k = len(lists)
                    # "（可选值）": the lists sheet must not look like an intake sheet to header detection
                    lists_ws.write_string(0, k, f"{col}（可选值）", header)
                    for r, code in enumerate(key, start=1):
                        lists_ws.write_string(r, k, code)
                    letter = xlsxwriter.utility.xl_col_to_name(k)
                    lists[key] = f"='{lists_sheet}'!${letter}$2:${letter}${len(key) + 1}"
                ws.data_validation(1, j, max(last, 1), j, {
                    "validate": "list", "source": lists[key],
                    "error_title": "输入错误", "error_message": f"“{col}”请从下拉列表中选择。",
                })
            for col, options in spec.validations.items():
                if col in cols:
                    j = cols.index(col)
                    ws.data_validation(1, j, max(last, 1), j, dict(options))
            ws.freeze_panes(1, 0)
            if cols:
                ws.autofilter(0, 0, max(len(spec.frame), 1), len(cols) - 1)
        wb.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, encoding: str = "utf-8-sig") -> Path:
    """CSV for Excel users: BOM so Excel detects UTF-8, formula-like strings neutralised, atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(safe_text)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=path.parent)
    os.close(fd)
    try:
        safe.to_csv(tmp, index=False, encoding=encoding, quoting=csv.QUOTE_MINIMAL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
