"""What an intake brought in, for notebooks/10-intake.ipynb: frames with Chinese headers and figures.

Thin layer over :mod:`workbench.summaries` and :mod:`workbench.figures`; every function takes a workspace
connection (a read-only :func:`workspace.reader` is enough).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import plotly.graph_objects as go

from . import contract, figures, summaries, workspace

#: the sheets an intake loads (实地核查 comes back through ``workbench sample``)
INTAKE_SHEETS = tuple(s for s in contract.SHEETS if s is not contract.ONSITE)


def loaded_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows now in the workspace per sheet, with the files they came from and the rows rejected."""
    counts = workspace.row_counts(con)
    per_sheet = con.execute("""
        SELECT "table", count(DISTINCT file) AS files FROM loads WHERE rows_loaded > 0 GROUP BY ALL""").df()
    files = dict(zip(per_sheet["table"], per_sheet["files"], strict=True))
    rejected = dict(con.execute('SELECT "table", count(*) FROM rejects GROUP BY ALL').fetchall())
    return pd.DataFrame({
        "工作表": [s.name for s in INTAKE_SHEETS],
        "已导入行数": [counts[s.table] for s in INTAKE_SHEETS],
        "拒收行数": [int(rejected.get(s.table, 0)) for s in INTAKE_SHEETS],
        "文件数": [int(files.get(s.table, 0)) for s in INTAKE_SHEETS],
    })


def loads_log(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The load log (latest first) with Chinese headers; sha256 shortened to 12 characters."""
    df = summaries.loads_summary(con)
    df["sha256"] = df["sha256"].str.slice(0, 12)
    return df.rename(columns={
        "file": "文件", "sheet": "工作表", "table": "表名", "rows_read": "读取行数", "rows_loaded": "导入行数",
        "rows_rejected": "拒收行数", "status": "状态", "message": "说明", "loaded_at": "导入时间",
        "sha256": "SHA-256（前12位）",
    })


def rejects_by_reason(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rejected rows by sheet, column and reason (all regions)."""
    df = summaries.rejects_summary(con)
    if df.empty:
        return pd.DataFrame(columns=["工作表", "列", "原因", "拒收行数"])
    out = df.groupby(["sheet", "column", "reason"], as_index=False, dropna=False)["rejects"].sum()
    out = out.sort_values(["rejects", "sheet", "column"], ascending=[False, True, True], ignore_index=True)
    return out.rename(columns={"sheet": "工作表", "column": "列", "reason": "原因", "rejects": "拒收行数"})


def rejects_by_region(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rejected rows by region (a reject whose unit has no known region counts at the province)."""
    df = summaries.rejects_summary(con)
    if df.empty:
        return pd.DataFrame(columns=["行政区划代码", "地区", "拒收行数"])
    out = df.groupby(["region_code", "name"], as_index=False)["rejects"].sum()
    out = out.sort_values(["rejects", "region_code"], ascending=[False, True], ignore_index=True)
    return out.rename(columns={"region_code": "行政区划代码", "name": "地区", "rejects": "拒收行数"})


def rows_per_region(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """Rows per sheet for the children of ``region_code`` (the cities for the province), rolled up."""
    df = summaries.rows_by_region(con, region_code)
    out = pd.concat([summaries.region_rows(df, region_code), summaries.children_rows(df, region_code)],
                    ignore_index=True)
    sheets = {s.table: s.name for s in INTAKE_SHEETS if s.table in out.columns}
    out = out[["region_code", "name", "level_zh", *sheets]]
    return out.rename(columns={"region_code": "行政区划代码", "name": "地区", "level_zh": "层级", **sheets})


def rows_per_region_figure(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> go.Figure:
    """Stacked bar: rows of each sheet per child region (by the region of the unit)."""
    df = summaries.children_rows(summaries.rows_by_region(con, region_code), region_code)
    return figures.rows_by_region_bar(df, title="各地区导入行数（按机构所在地区）")


def rejects_figure(con: duckdb.DuckDBPyConnection) -> go.Figure:
    """Horizontal bar of rejected rows by sheet and reason."""
    return figures.rejects_bar(summaries.rejects_summary(con))
