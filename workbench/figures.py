"""Plotly figures shared by reports and dashboards: each takes a frame from :mod:`workbench.summaries`.

Builders never query the workspace and never load anything from a CDN (the caller decides how plotly.js is
embedded), so a report and a dashboard given the same frame draw the same figure. Titles and labels are
Chinese; severities keep one colour everywhere.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from . import contract

FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, SimHei, sans-serif"
SEVERITY_COLORS = {
    "critical": "#8b0000", "high": "#d62728", "medium": "#ff7f0e", "low": "#f2c14e", "info": "#7f7f7f",
}
SERIES_COLORS = {"quota": "#1f77b4", "staff": "#2ca02c", "paid": "#9467bd", "approved": "#1f77b4",
                 "held": "#d62728", "approved_units": "#1f77b4", "actual_units": "#2ca02c"}
STATUS_Z = {"通过": 1.0, "未完全核查": 0.5, "未通过": 0.0}
SHEET_ZH = {s.table: s.name for s in contract.SHEETS}


def _layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    kw.setdefault("margin", {"l": 60, "r": 20, "t": 60, "b": 60})
    kw.setdefault("legend", {"title": {"text": ""}})
    fig.update_layout(title={"text": title, "x": 0.01}, template="plotly_white", font={"family": FONT}, **kw)
    return fig


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text="暂无数据", showarrow=False, font={"size": 18}, x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title)


def _one_region(df: pd.DataFrame, region_code: str | None) -> pd.DataFrame:
    """Rows of one region: the given one, else the first listed (summaries list the asked region first)."""
    if df.empty:
        return df
    code = region_code or df["region_code"].iloc[0]
    return df[df["region_code"] == code]


def _region_label(df: pd.DataFrame) -> pd.Series:
    return df["name"].astype(str) if "name" in df.columns else df["region_code"].astype(str)


# ------------------------------------------------------------------------------------------ findings
def findings_by_rule_bar(df: pd.DataFrame, title: str = "问题数（按规则）") -> go.Figure:
    """Horizontal bars from :func:`summaries.findings_by_rule`, coloured by severity."""
    if df.empty:
        return _empty(title)
    fig = go.Figure()
    for sev in contract.SEVERITIES:
        part = df[df["severity"] == sev]
        if part.empty:
            continue
        fig.add_bar(y=part["title"] + "（" + part["rule_id"] + "）", x=part["findings"], orientation="h",
                    name=contract.SEVERITY_ZH[sev], marker_color=SEVERITY_COLORS[sev],
                    text=part["findings"], textposition="outside", cliponaxis=False,
                    hovertemplate="%{y}<br>问题数：%{x}<extra>" + contract.SEVERITY_ZH[sev] + "</extra>")
    fig.update_yaxes(autorange="reversed", title="")
    fig.update_xaxes(title="问题数")
    return _layout(fig, title, barmode="stack", height=max(320, 28 * len(df) + 120),
                   legend={"title": {"text": ""}, "traceorder": "normal"})


def findings_by_severity_bar(df: pd.DataFrame, title: str = "问题数（按严重程度）") -> go.Figure:
    """Bars from :func:`summaries.findings_by_severity`."""
    if df.empty:
        return _empty(title)
    fig = go.Figure(go.Bar(x=df["severity"].map(contract.SEVERITY_ZH), y=df["findings"], text=df["findings"],
                           marker_color=df["severity"].map(SEVERITY_COLORS), textposition="auto",
                           hovertemplate="%{x}：%{y}<extra></extra>"))
    fig.update_xaxes(title="严重程度")
    fig.update_yaxes(title="问题数")
    return _layout(fig, title)


def findings_by_region_bar(df: pd.DataFrame, title: str = "问题数（按地区）") -> go.Figure:
    """Stacked bars per region and severity from :func:`summaries.findings_by_region` (rows as given)."""
    if df.empty:
        return _empty(title)
    x = _region_label(df)
    fig = go.Figure()
    for sev in contract.SEVERITIES:
        col = f"findings_{sev}"
        if col in df.columns and df[col].sum() > 0:
            fig.add_bar(x=x, y=df[col], name=contract.SEVERITY_ZH[sev], marker_color=SEVERITY_COLORS[sev],
                        hovertemplate="%{x}<br>" + contract.SEVERITY_ZH[sev] + "：%{y}<extra></extra>")
    if not fig.data:
        fig.add_bar(x=x, y=df["findings"], name="问题数")
    fig.update_xaxes(title="")
    fig.update_yaxes(title="问题数")
    return _layout(fig, title, barmode="stack", legend={"title": {"text": ""}, "traceorder": "normal"})


def findings_hierarchy(df: pd.DataFrame, kind: str = "sunburst",
                       title: str = "问题分布（省—市—县）") -> go.Figure:
    """Sunburst (or ``kind='treemap'``) province → city → county from rolled-up
    :func:`summaries.findings_by_region`; each wedge is the region's total (its own units + below)."""
    if df.empty or df["findings"].sum() == 0:
        return _empty(title)
    d = df[df["findings"] > 0]
    parents = d["parent_code"].where(d["parent_code"].isin(d["region_code"]), "").fillna("")
    trace = go.Sunburst if kind == "sunburst" else go.Treemap
    fig = go.Figure(trace(ids=d["region_code"], labels=d["name"], parents=parents, values=d["findings"],
                          branchvalues="total", hovertemplate="%{label}<br>问题数：%{value}<extra></extra>"))
    return _layout(fig, title, margin={"l": 10, "r": 10, "t": 50, "b": 10})


def findings_sunburst(df: pd.DataFrame, title: str = "问题分布（省—市—县）") -> go.Figure:
    return findings_hierarchy(df, "sunburst", title)


def findings_treemap(df: pd.DataFrame, title: str = "问题分布（省—市—县）") -> go.Figure:
    return findings_hierarchy(df, "treemap", title)


# ------------------------------------------------------------------------------------------ establishment
def three_way_bar(df: pd.DataFrame, title: str = "核定编制数、实有人数与财政供养人数") -> go.Figure:
    """Grouped bars per region from :func:`summaries.three_way` (rows as given)."""
    if df.empty:
        return _empty(title)
    x = _region_label(df)
    fig = go.Figure()
    for col, label in (("quota", "核定编制数"), ("staff", "实有人数"), ("paid", "财政供养人数")):
        fig.add_bar(x=x, y=df[col], name=label, marker_color=SERIES_COLORS[col],
                    hovertemplate="%{x}<br>" + label + "：%{y}<extra></extra>")
    month = df["pay_month"].dropna().iloc[0] if "pay_month" in df and df["pay_month"].notna().any() else None
    fig.update_yaxes(title="人数")
    return _layout(fig, title + (f"（财政发放月份 {month}）" if month else ""), barmode="group")


def _quota_vs_actual_bar(d: pd.DataFrame, x: str, bars: tuple[tuple[str, str], tuple[str, str]], yaxis: str,
                         title: str) -> go.Figure:
    """Two grouped bars (approved vs actual) per category of one region's rows."""
    fig = go.Figure()
    for col, name in bars:
        fig.add_bar(x=d[x], y=d[col], name=name, marker_color=SERIES_COLORS[col], text=d[col], textposition="auto")
    fig.update_yaxes(title=yaxis)
    return _layout(fig, f"{d['name'].iloc[0]}：{title}" if "name" in d else title, barmode="group")


def establishment_by_kind_bar(df: pd.DataFrame, region_code: str | None = None,
                              title: str = "分编制类型核定与实有") -> go.Figure:
    """核定 vs 实有 per 编制类型 for one region of :func:`summaries.establishment_by_kind`."""
    d = _one_region(df, region_code)
    if d.empty:
        return _empty(title)
    return _quota_vs_actual_bar(d, "est_kind", (("quota", "核定编制数"), ("staff", "实有人数")), "人数", title)


def leader_posts_bar(df: pd.DataFrame, region_code: str | None = None,
                     title: str = "领导职数核定与实配") -> go.Figure:
    """核定 vs 实配 per 领导职务层次 for one region of :func:`summaries.leader_posts`."""
    d = _one_region(df, region_code)
    if d.empty:
        return _empty(title)
    return _quota_vs_actual_bar(d, "leader_level", (("approved", "核定职数"), ("held", "实配职数")), "职数", title)


def institutions_bar(df: pd.DataFrame, title: str = "内设机构核定与实有") -> go.Figure:
    """核定 vs 实有 内设机构数 per region of :func:`summaries.institutions` (rows as given)."""
    if df.empty:
        return _empty(title)
    x = _region_label(df)
    fig = go.Figure()
    fig.add_bar(x=x, y=df["approved_units"], name="核定内设机构数", marker_color=SERIES_COLORS["approved_units"])
    fig.add_bar(x=x, y=df["actual_units"], name="实有内设机构数", marker_color=SERIES_COLORS["actual_units"])
    fig.update_yaxes(title="内设机构数")
    return _layout(fig, title, barmode="group")


# ------------------------------------------------------------------------------------------ four clears
def four_clears_heatmap(df: pd.DataFrame, title: str = "四清情况") -> go.Figure:
    """Regions × clears grid from :func:`summaries.four_clears`: green 通过, amber 未完全核查, red 未通过;
    each cell shows the number of findings behind it."""
    if df.empty:
        return _empty(title)
    clears = [c for c in contract.CLEARS if c in set(df["clear"])]
    order = list(dict.fromkeys(df["region_code"]))
    names = df.drop_duplicates("region_code").set_index("region_code")["name"].reindex(order)
    z = df.pivot(index="region_code", columns="clear", values="status").reindex(index=order, columns=clears)
    n = df.pivot(index="region_code", columns="clear", values="findings").reindex(index=order, columns=clears)
    text = z.astype(str) + "<br>" + n.astype(str) + "项"
    fig = go.Figure(go.Heatmap(
        z=z.map(STATUS_Z.get).to_numpy(dtype=float), x=clears, y=names.to_numpy(), text=text.to_numpy(),
        texttemplate="%{text}", zmin=0, zmax=1, showscale=False, xgap=2, ygap=2,
        colorscale=[[0, "#f4a6a6"], [0.5, "#f7d774"], [1, "#9fd89f"]],
        hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    return _layout(fig, title, height=max(260, 30 * len(order) + 120))


# ------------------------------------------------------------------------------------------ data
def rows_by_region_bar(df: pd.DataFrame, title: str = "各地区数据行数") -> go.Figure:
    """Stacked rows per sheet and region from :func:`summaries.rows_by_region` (rows as given)."""
    if df.empty:
        return _empty(title)
    x = _region_label(df)
    fig = go.Figure()
    for table, sheet in SHEET_ZH.items():
        if table in df.columns:
            fig.add_bar(x=x, y=df[table], name=sheet, hovertemplate="%{x}<br>" + sheet + "：%{y}<extra></extra>")
    fig.update_yaxes(title="行数")
    return _layout(fig, title, barmode="stack")


def source_coverage_bar(df: pd.DataFrame, title: str = "各来源对在编人员的覆盖率") -> go.Figure:
    """Coverage of the roster by each joint-review source, from :func:`summaries.source_coverage`."""
    d = df[df["coverage"].notna()] if not df.empty else df
    if d.empty:
        return _empty(title)
    pct = (d["coverage"].astype(float) * 100).round(1)
    fig = go.Figure(go.Bar(x=d["sheet"], y=pct, text=pct.astype(str) + "%", textposition="auto",
                           marker_color="#1f77b4", hovertemplate="%{x}：%{y}%<extra></extra>"))
    fig.update_yaxes(title="覆盖率（%）", range=[0, 105])
    return _layout(fig, title)


def rejects_bar(df: pd.DataFrame, title: str = "拒收行数（按原因）") -> go.Figure:
    """Rejected rows by reason (summed over regions) from :func:`summaries.rejects_summary`."""
    if df.empty:
        return _empty(title)
    d = df.groupby(["sheet", "reason"], as_index=False)["rejects"].sum().sort_values("rejects")
    fig = go.Figure(go.Bar(y=d["sheet"] + "：" + d["reason"], x=d["rejects"], orientation="h",
                           text=d["rejects"], textposition="auto", marker_color="#ff7f0e",
                           hovertemplate="%{y}<br>行数：%{x}<extra></extra>"))
    fig.update_xaxes(title="行数")
    return _layout(fig, title, height=max(300, 26 * len(d) + 120))
