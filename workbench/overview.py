"""What an intake brought in, for notebooks/10-intake.ipynb: frames with Chinese headers and figures.

Thin layer over :mod:`workbench.summaries` and :mod:`workbench.figures`; every function takes a workspace
connection (a read-only :func:`workspace.reader` is enough).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import plotly.graph_objects as go

from . import contract, figures, intake, summaries, workspace

#: the sheets an intake loads (实地核查 comes back through ``workbench sample``)
INTAKE_SHEETS = tuple(s for s in contract.SHEETS if s is not contract.ONSITE)


#: statuses of the ``loads`` log, in Chinese
LOAD_STATUS_ZH = {"loaded": "已导入", "replaced": "已被新版本替换", "failed": "失败", "skipped": "已忽略"}


def intake_totals(summary: pd.DataFrame | None) -> pd.DataFrame:
    """An ``intake.intake`` summary per sheet: files, rows read / loaded / rejected."""
    cols = ["工作表", "文件数", "读取行数", "导入行数", "拒收行数"]
    if summary is None or summary.empty:
        return pd.DataFrame(columns=cols)
    d = summary[summary["sheet"].astype(str) != ""]
    out = d.groupby("sheet", as_index=False).agg(files=("file", "nunique"), read=("read", "sum"),
                                                 loaded=("loaded", "sum"), rejected=("rejected", "sum"))
    order = {s.name: i for i, s in enumerate(contract.SHEETS)}
    out = out.sort_values("sheet", key=lambda s: s.map(order).fillna(len(order)), ignore_index=True)
    out.columns = cols
    return out


def intake_problems(summary: pd.DataFrame | None) -> pd.DataFrame:
    """Files and sheets of an intake that failed, were ignored or carry a note (unchanged files left out)."""
    cols = ["文件", "工作表", "状态", "说明"]
    if summary is None or summary.empty:
        return pd.DataFrame(columns=cols)
    d = summary[(summary["message"].fillna("").astype(str) != "") & (summary["status"] != intake.UNCHANGED)]
    return d[["file", "sheet", "status", "message"]].set_axis(cols, axis=1).reset_index(drop=True)


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
    df["status"] = df["status"].map(lambda s: LOAD_STATUS_ZH.get(s, s))
    return df.rename(columns={
        "file": "文件", "sheet": "工作表", "table": "表名", "rows_read": "读取行数", "rows_loaded": "导入行数",
        "rows_rejected": "拒收行数", "status": "状态", "message": "说明", "loaded_at": "导入时间",
        "sha256": "SHA-256（前12位）",
    })


#: a reason with the row's own value, row number and file name blanked, so equal problems group together
_REASON_KIND = r"""
    regexp_replace(regexp_replace(
        CASE WHEN coalesce(value, '') = '' THEN reason
             WHEN length(value) >= 6 THEN replace(replace(reason, '“' || value || '”', '“…”'), value, '…')
             ELSE replace(reason, '“' || value || '”', '“…”') END,
        '第[0-9]+行', '第…行', 'g'),
    '“[^”]*\.(xlsx|xlsm|csv|txt)”', '“…”', 'g')"""


def rejects_by_reason(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rejected rows by sheet, column and kind of reason (the values in the reason blanked), with an example."""
    df = con.execute(f"""
        SELECT sheet AS 工作表, "column" AS 列, {_REASON_KIND} AS 原因, count(*) AS 拒收行数,
               arg_min(reason, (file, "row")) AS 示例
        FROM rejects GROUP BY ALL ORDER BY 拒收行数 DESC, 工作表, 列, 原因""").df()
    df["拒收行数"] = df["拒收行数"].astype("int64")
    return df


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
    """Horizontal bar of rejected rows by sheet and kind of reason (as :func:`rejects_by_reason`)."""
    df = rejects_by_reason(con).rename(columns={"工作表": "sheet", "原因": "reason", "拒收行数": "rejects"})
    return figures.rejects_bar(df)
