"""ipywidgets apps behind the Voila dashboards: the leaders' overview and the analysts' explorer.

Each app reads the workspace once through the published read-only snapshot (:func:`workspace.reader`),
closes the connection, and keeps the aggregates it needs; a filter change only slices those frames and
swaps precomputed plotly figures into ``Output`` widgets (one state message per figure; measured faster in
Voila than ``FigureWidget``, whose 5 MB script is sent once per figure). Numbers come from
:mod:`workbench.summaries` and figures from :mod:`workbench.figures`, the same ones the reports use.
ID numbers are masked on screen; the full number stays in the kernel for the person drill-down.
"""

from __future__ import annotations

import html
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython.display import display

from . import contract, figures, ids, regions, summaries
from . import workspace as wsmod

WORKSPACE_ENV = "WB_WORKSPACE"
#: dashboard name -> notebook in notebooks/dashboards
DASHBOARDS = {"overview": "overview.ipynb", "explorer": "explorer.ipynb"}
PAGE_SIZE = 20
ALL = ""  # drop-down value for "no filter" (ipywidgets shows a None value as an empty box)
MAX_UNIT_OPTIONS = 500
PROVINCE_UNITS_ZH = "省直单位"
CITY_OWN_ZH = "市本级"

# campaign stages (DESIGN §1) as shown on the progress grid: key -> label
STAGES = {
    "self_check": "自查自清",
    **{f"joint_{k}": f"联合审核·{contract.DEPARTMENT_ZH[k]}" for k in contract.DEPARTMENTS},
    "summary": "总结上报",
    "sample": "督查抽样",
    "results": "结果返回",
}
_STAGE_TABLES = {"joint_police": "police", "joint_finance": "payroll", "joint_hr": "hr", "joint_org": "orgdept"}

STYLE = """<style>
.wb-app {font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif;}
.wb-title {font-size: 22px; font-weight: 600; margin: 4px 0 8px 0;}
.wb-card {border: 1px solid #ddd; border-radius: 6px; padding: 6px 12px; min-width: 120px; background: #fafafa; margin: 0 8px 8px 0;}
.wb-card .wb-label {color: #555; font-size: 13px;}
.wb-card .wb-value {font-size: 22px; font-weight: 600;}
.wb-sev-critical .wb-value {color: #8b0000;} .wb-sev-high .wb-value {color: #d62728;}
.wb-sev-medium .wb-value {color: #ff7f0e;}
.wb-table {border-collapse: collapse; font-size: 13px; margin: 4px 0;}
.wb-table th, .wb-table td {border: 1px solid #ddd; padding: 3px 6px; text-align: left;}
.wb-table th {background: #f0f0f0;}
.wb-note {color: #666; font-size: 13px;}
.wb-fig {overflow-x: auto;}
.wb-fig-title {font-size: 17px; color: #2a3f5f; margin: 14px 0 10px 8px;}
.wb-progress-table td {text-align: center; min-width: 44px;}
.wb-progress-table th {white-space: nowrap; text-align: center; font-weight: normal;}
.wb-stage-done {background: #9fd89f;} .wb-stage-part {background: #f7d774;}
.wb-stage-none {background: #f4a6a6;} .wb-stage-na {background: #f3f3f3; color: #888;}
</style>"""


# ------------------------------------------------------------------------------------------ helpers
def resolve_workspace(workspace: str | os.PathLike | None = None) -> Path:
    """The workspace given, else the one in ``WB_WORKSPACE`` (set by ``workbench dashboard``)."""
    value = workspace or os.environ.get(WORKSPACE_ENV)
    if not value:
        raise ValueError(f"未指定工作区：请设置参数 workspace 或环境变量 {WORKSPACE_ENV}")
    return Path(value)


def snapshot_stamp(workspace: Path) -> tuple:
    """Identity of the published snapshot (inode, mtime, size): it changes whenever a writer publishes."""
    snap = wsmod.snapshot_path(workspace)
    st = (snap if snap.exists() else workspace).stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def wait_for_visitor() -> None:
    """In a Voila preheated kernel, pause until a visitor opens the page (no-op elsewhere)."""
    if os.environ.get("VOILA_PREHEAT", "False") != "False":
        from voila.utils import wait_for_request

        wait_for_request()


def plotly_output(fig: go.Figure) -> dict:
    """A notebook display_data output holding the figure (rendered by the bundled plotly extension)."""
    spec = json.loads(fig.to_json())
    # the template (~10 kB per figure) and the mode bar cost a third of a filter change in the browser;
    # plotly.js's own defaults look alike (white background, light grid)
    spec["layout"].pop("template", None)
    spec["layout"].setdefault("height", 460)
    for axis in ("xaxis", "yaxis"):  # the template's automargin keeps long category labels visible
        spec["layout"].setdefault(axis, {}).setdefault("automargin", True)
    # not "responsive": inside ipywidgets boxes plotly's resize-to-container collapses the plots to zero height
    spec["config"] = {"displaylogo": False, "displayModeBar": False}
    return {"output_type": "display_data", "metadata": {},
            "data": {"application/vnd.plotly.v1+json": spec, "text/plain": fig.layout.title.text or "图表"}}


def _slot(*classes: str) -> w.Output:
    out = w.Output(layout=w.Layout(width="100%"))
    for c in ("wb-fig", *classes):
        out.add_class(c)
    return out


def _card(label: str, css: str, value: str = "—") -> w.HTML:
    card = w.HTML(_card_html(label, value))
    card.add_class("wb-card")
    card.add_class(css)
    return card


def _card_html(label: str, value) -> str:
    shown = f"{value:,}" if isinstance(value, int | np.integer) else html.escape(str(value))
    return f'<div class="wb-label">{html.escape(label)}</div><div class="wb-value">{shown}</div>'


def html_table(df: pd.DataFrame, css: str = "wb-table", classes: dict[str, str] | None = None) -> str:
    """A small HTML table (values escaped; ``classes`` maps a column to the td class)."""
    classes = classes or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td class="{classes.get(c, "")}">{"" if pd.isna(v) else html.escape(str(v))}</td>'
            for c, v in zip(df.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def region_name(code: str | None) -> str:
    return regions.name_of(code) if code else regions.name_of(regions.province_code())


def map_region(codes: pd.Series) -> pd.Series:
    """Any region code -> a known region: itself, else its city, else the province (as summaries does)."""
    known = regions.codes()
    s = codes.fillna("").astype(str)
    city = s.str[:4] + "00"
    return s.where(s.isin(known), city.where(city.isin(known), regions.province_code()))


def city_options() -> list[tuple[str, str]]:
    cities = regions.regions().query("level == @regions.CITY")
    return [("全省", ALL), *zip(cities["name"], cities["region_code"], strict=True)]


def region_options() -> list[tuple[str, str]]:
    """全省, then each city followed by its counties (indented)."""
    out: list[tuple[str, str]] = [("全省", ALL)]
    for name, code in city_options()[1:]:
        out.append((name, code))
        out += [("\u3000" + regions.name_of(c), c) for c in regions.children(code)]
    return out


def _table_exists(con, name: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[0] > 0


# ------------------------------------------------------------------------------------------ campaign progress
def progress_flags(con) -> pd.DataFrame:
    """Per region (own units only): which campaign stages the workspace shows as reached.

    self_check: 机构 and 人员 rows for the region's units; joint_*: rows of each department's sheet for them
    (公安: roster IDs of the region found in 公安核查); summary: self-check done and a rule run exists;
    sample: the latest sampling plan covers the region; picked: the plan picked it; results: 实地核查 rows.
    """
    roster = "SELECT DISTINCT o.region_code, s.id_number FROM staff s JOIN orgs o ON o.org_code = s.org_code"
    parts = ["SELECT region_code, 'orgs' AS t, count(*) AS n FROM orgs GROUP BY ALL",
             f"SELECT region_code, 'staff', count(*) FROM ({roster}) GROUP BY ALL",
             f"SELECT region_code, 'police', count(*) FROM ({roster}) r"
             " WHERE r.id_number IN (SELECT id_number FROM police) GROUP BY ALL"]
    parts += [f'SELECT o.region_code, \'{t}\', count(*) FROM "{t}" x JOIN orgs o ON o.org_code = x.org_code'
              " GROUP BY ALL" for t in ("payroll", "hr", "orgdept", "onsite_results")]
    counts = con.execute(" UNION ALL ".join(parts)).df()
    wide = counts.pivot_table(index="region_code", columns="t", values="n", aggfunc="sum", fill_value=0)
    r = regions.regions()
    flags = pd.DataFrame({"region_code": r["region_code"]}).set_index("region_code")
    n = wide.reindex(index=flags.index, columns=["orgs", "staff", "police", "payroll", "hr", "orgdept",
                                                 "onsite_results"], fill_value=0).fillna(0)
    flags["units"] = n["orgs"].astype(int)
    flags["self_check"] = (n["orgs"] > 0) & (n["staff"] > 0)
    for stage, table in _STAGE_TABLES.items():
        flags[stage] = n[table] > 0
    flags["summary"] = flags["self_check"] & (summaries.latest_run_id(con) is not None)
    flags["sample"], flags["picked"] = False, False
    if _table_exists(con, "sample_units") and _table_exists(con, "sample_plan"):
        plan = con.execute("SELECT plan_id FROM sample_plan ORDER BY created_at DESC LIMIT 1").fetchone()
        su = con.execute("SELECT universe, unit_code, stratum, picked FROM sample_units WHERE plan_id = ?",
                         [plan[0] if plan else None]).df()
        county = su[su["universe"] == "county"]
        prov = su[su["universe"] != "county"]
        covered = set(county["unit_code"]) | set(county["stratum"])
        picked = set(county.loc[county["picked"].astype(bool), "unit_code"])
        if len(prov):
            covered.add(contract.PROVINCE_UNIT_REGION)
            if prov["picked"].astype(bool).any():
                picked.add(contract.PROVINCE_UNIT_REGION)
        flags["sample"] = flags.index.isin(list(covered))
        flags["picked"] = flags.index.isin(list(picked))
    flags["results"] = n["onsite_results"] > 0
    return flags.reset_index()


def progress_rows(flags: pd.DataFrame, region_code: str | None = None) -> pd.DataFrame:
    """The progress grid of a scope: for the province 省直单位 + each city, for a city 市本级 + each county.

    Each cell is the share of the row's member regions (county-level regions, plus any region holding
    units) that reached the stage; 结果返回 counts only regions picked for on-site checks.
    """
    prov = regions.province_code()
    code = region_code or prov
    f = flags.set_index("region_code")
    expected = set(regions.county_level()["region_code"]) | set(f.index[f["units"] > 0])
    rows = []
    own_label = PROVINCE_UNITS_ZH if code == prov else CITY_OWN_ZH
    if code in expected and (code == prov or regions.children(code)):
        rows.append((own_label, [code]))
    for child in regions.children(code) or [code]:
        members = [c for c in regions.descendants(child) if c in expected]
        rows.append((regions.name_of(child), members))
    out = []
    for label, members in rows:
        sub = f.loc[members] if members else f.iloc[0:0]
        rec = {"name": label, "members": len(members)}
        for stage in STAGES:
            base = sub[sub["picked"]] if stage == "results" else sub
            rec[stage] = float(base[stage].mean()) if len(base) else np.nan
            rec[f"{stage}_n"] = int(base[stage].sum()) if len(base) else 0
            rec[f"{stage}_of"] = len(base)
        out.append(rec)
    return pd.DataFrame(out)


def progress_cell(stage: str, reached: int, of: int, sampled: int) -> tuple[str, str]:
    """Text and CSS state of one progress cell: ✓/✗ for one region, k/n for several, — not applicable."""
    if of == 0:
        return ("未抽中" if stage == "results" and sampled > 0 else "—"), "na"
    text = ("✓" if reached == of else "✗") if of == 1 else f"{reached}/{of}"
    return text, "done" if reached == of else "none" if reached == 0 else "part"


def progress_html(rows: pd.DataFrame, title: str = "工作进度（按阶段）") -> str:
    """Regions × stages table: green reached, amber partly, red not yet, grey not applicable.

    Dashboard-specific (the reports have no progress view), and an HTML table draws in a few milliseconds
    where a plotly heatmap takes a tenth of a second — it is redrawn on every filter change.
    """
    head = "".join(f"<th>{html.escape(v).replace('·', '<br>')}</th>" for v in STAGES.values())
    body = []
    for i, name in enumerate(rows["name"]):
        cells = []
        for s in STAGES:
            text, state = progress_cell(s, int(rows[f"{s}_n"].iloc[i]), int(rows[f"{s}_of"].iloc[i]),
                                        int(rows["sample_n"].iloc[i]))
            cells.append(f'<td class="wb-stage-{state}">{text}</td>')
        body.append(f"<tr><th>{html.escape(str(name))}</th>{''.join(cells)}</tr>")
    return (f'<div class="wb-fig-title">{html.escape(title)}</div><table class="wb-table wb-progress-table">'
            f"<thead><tr><th>地区</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


# ------------------------------------------------------------------------------------------ overview
class OverviewData:
    """Every aggregate the overview shows, read once (all regions, rolled up) and sliced per scope."""

    def __init__(self, con):
        # three_way's units (registered in-scope units) is institutions' units: one pass over the roster
        self.three_way = summaries.three_way(con)
        self.findings = summaries.findings_by_region(con)
        self.clears = summaries.four_clears(con)
        self.rule_region = summaries.findings_by_rule_region(con)
        self.progress = progress_flags(con)
        self.run_id = summaries.latest_run_id(con)
        self.pay_month = summaries.latest_pay_month(con)

    def headline(self, region_code: str | None = None) -> dict:
        """The numbers of :func:`summaries.headline` for one region."""
        code = region_code or regions.province_code()
        pick = lambda df: df[df["region_code"] == code].iloc[0]  # noqa: E731
        tw, fr = pick(self.three_way), pick(self.findings)
        out = {"units": int(tw["units"]), "quota": int(tw["quota"]), "staff": int(tw["staff"]),
               "paid": int(tw["paid"]), "findings": int(fr["findings"])}
        out |= {f"findings_{s}": int(fr[f"findings_{s}"]) for s in contract.SEVERITIES}
        fc = self.clears[self.clears["region_code"] == code]
        out["clears_passed"] = int(fc["passed"].sum())
        return out

    def figures(self, region_code: str | None = None) -> dict[str, go.Figure]:
        """The overview's figures for one scope (the province or a city)."""
        code = region_code or regions.province_code()
        name = region_name(code)
        scope = summaries.scope_codes(code)
        rows = [code, *regions.children(code)]
        clears = self.clears[self.clears["region_code"].isin(rows)]
        fr = self.findings[self.findings["region_code"].isin(scope)]
        rr = self.rule_region[self.rule_region["region_code"].isin(scope)]
        by_rule = (rr.groupby(["rule_id", "severity"], as_index=False)
                   .agg(title=("title", "first"), findings=("findings", "sum"))
                   .sort_values(["findings", "rule_id"], ascending=[False, True]))
        return {
            "clears": figures.four_clears_heatmap(clears, title=f"{name} · 四清情况"),
            "hierarchy": figures.findings_sunburst(fr, title=f"{name} · 问题分布"),
            "rules": figures.findings_by_rule_bar(by_rule, title=f"{name} · 问题数（按规则）"),
        }

    def progress_html(self, region_code: str | None = None) -> str:
        """The campaign-progress table of one scope."""
        code = region_code or regions.province_code()
        return progress_html(progress_rows(self.progress, code), title=f"{region_name(code)} · 工作进度")


HEADLINE_CARDS = (
    ("units", "机构数"), ("quota", "核定编制数"), ("staff", "实有人数"), ("paid", "财政供养人数"),
    ("findings", "问题总数"), *((f"findings_{s}", f"问题·{contract.SEVERITY_ZH[s]}") for s in contract.SEVERITIES),
    ("clears_passed", "四清通过项"),
)
FIGURE_SLOTS = ("clears", "hierarchy", "rules")
GROUPS = ("province", "city")


class OverviewApp:
    """领导驾驶舱: headline figures, four clears, findings by region and rule, campaign progress, city filter."""

    def __init__(self, workspace: str | os.PathLike | None = None):
        self.workspace = resolve_workspace(workspace)
        self.scope: str | None = None
        self.load()
        self.root = self.build()
        self.update(None)
        self.root.add_class("wb-ready")

    def load(self) -> None:
        """Read the aggregates from the snapshot and start precomputing every city's figures."""
        self.stamp = snapshot_stamp(self.workspace)
        con = wsmod.reader(self.workspace)
        try:
            self.data = OverviewData(con)
        finally:
            con.close()
        self._cache: dict[str | None, dict[str, dict]] = {}
        self._shown: dict[str, str | bool | None] = {}  # group -> the scope its widgets hold (False: none yet)
        self.warm()

    # builders
    def build(self) -> w.Box:
        self.title = w.HTML()
        self.title.add_class("wb-title")
        self.cards = {key: _card(label, f"wb-headline-{key.replace('_', '-')}") for key, label in HEADLINE_CARDS}
        for s in contract.SEVERITIES:
            self.cards[f"findings_{s}"].add_class(f"wb-sev-{s}")
        self.city = w.Dropdown(options=city_options(), value=ALL, description="地区")
        self.city.add_class("wb-city-filter")
        self.city.observe(lambda ch: self.update(ch["new"] or None), "value")
        self.note = w.HTML()
        self.note.add_class("wb-note")
        # two groups of views, the province's and a city's, in a fixed grid: a scope change replaces the city
        # group's outputs and toggles which group shows. Nothing is added to the page after the first render
        # (adding widgets makes the plotly renderer redraw every figure on the page), and going back to the
        # province redraws nothing.
        self.groups: dict[str, dict[str, w.DOMWidget]] = {}
        for group in GROUPS:
            views: dict[str, w.DOMWidget] = {k: _slot(f"wb-fig-{k}") for k in FIGURE_SLOTS}
            views["progress"] = w.HTML()
            views["progress"].add_class("wb-progress")
            self.groups[group] = views
            self._show(group, False)
        cell = lambda k: w.VBox([self.groups[g][k] for g in GROUPS], layout=w.Layout(width="50%"))  # noqa: E731
        grid = w.VBox([w.HBox([cell("clears"), cell("progress")]), w.HBox([cell("hierarchy"), cell("rules")])])
        root = w.VBox([w.HTML(STYLE), self.title, w.HBox([self.city, self.note]),
                       w.HBox(list(self.cards.values()), layout=w.Layout(flex_flow="row wrap")),
                       grid])
        root.add_class("wb-app")
        root.add_class("wb-overview")
        return root

    def outputs(self, region_code: str | None, data: OverviewData | None = None,
                cache: dict | None = None) -> dict[str, dict]:
        """Figure outputs of a scope (built once per data load, then cached)."""
        data, cache = data or self.data, self._cache if cache is None else cache
        if region_code not in cache:
            cache[region_code] = {k: plotly_output(f) for k, f in data.figures(region_code).items()}
        return cache[region_code]

    # the one update method
    def update(self, region_code: str | None = None) -> None:
        """Show one scope (None = the province): headline cards and every figure."""
        old = self.scope
        self.scope = region_code
        name = region_name(region_code)
        self.title.value = f"领导驾驶舱 · {html.escape(name)}"
        for key, value in self.data.headline(region_code).items():
            label = dict(HEADLINE_CARDS)[key]
            self.cards[key].value = _card_html(label, value)
        run = f"规则运行批次 {self.data.run_id}" if self.data.run_id is not None else "尚未运行核查规则"
        month = f"财政发放月份 {self.data.pay_month}" if self.data.pay_month else "未导入财政发放"
        self.note.value = f"{run}；{month}；数据来自已发布的只读快照"
        group = "province" if region_code is None else "city"
        self._show(group, True)  # shown first, so that plotly draws the new figures at their size
        if self._shown.get(group, False) != region_code:
            views = self.groups[group]
            for key, out in self.outputs(region_code).items():
                views[key].outputs = (out,)
            views["progress"].value = self.data.progress_html(region_code)
            self._shown[group] = region_code
        for other in GROUPS:
            if other != group:
                self._show(other, False)
        self.root.remove_class(f"wb-scope-{old or 'all'}")
        self.root.add_class(f"wb-scope-{region_code or 'all'}")

    def _show(self, group: str, on: bool) -> None:
        """Show or hide one group of views (the shown one carries ``wb-current``)."""
        for view in self.groups[group].values():
            view.layout.display = None if on else "none"
            (view.add_class if on else view.remove_class)("wb-current")

    @property
    def slots(self) -> dict[str, w.DOMWidget]:
        """The figure outputs (and the progress table) of the scope on show."""
        return self.groups["province" if self.scope is None else "city"]

    def warm(self) -> threading.Thread:
        """Precompute every city's figures in the background so a filter change only swaps outputs."""
        data, cache = self.data, self._cache  # a reload swaps both; this thread keeps filling the old pair

        def run():
            for _, code in city_options():
                self.outputs(code or None, data, cache)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def show(self) -> None:
        """Display the app; a preheated kernel first waits for the visitor and reloads if a writer published."""
        wait_for_visitor()
        if snapshot_stamp(self.workspace) != self.stamp:
            self.load()
            self.update(self.scope)
        display(self.root)


# ------------------------------------------------------------------------------------------ explorer
PERSON_SOURCES = (contract.STAFF, contract.OFFSTAFF, contract.PAYROLL, contract.POLICE, contract.HR,
                  contract.ORGDEPT)
FINDING_VIEW = {"rule_id": "规则编号", "severity_zh": "严重程度", "region_name": "地区", "org_name": "机构名称",
                "org_code": "机构代码", "id_masked": "公民身份号码", "item": "事项", "title": "问题名称",
                "detail": "问题说明"}


MASKED_COLUMNS = ("account",)  # shown masked besides the ID number: the pay account


def person_records(con, id_number: str) -> dict[str, pd.DataFrame]:
    """Every row of one ID across 人员, 编外人员, 财政发放, 公安核查, 人社信息 and 组织部门 (ID and pay account masked,
    Chinese headers, unit names added where the sheet has a unit)."""
    out = {}
    for sheet in PERSON_SOURCES:
        cols = [c for c in sheet.names if c != "id_number"]
        sel = ", ".join(f'wb_mask(x."{c}") AS "{c}"' if c in MASKED_COLUMNS else f'x."{c}"' for c in cols)
        join, extra = ("LEFT JOIN orgs o ON o.org_code = x.org_code", ", o.org_name AS _org_name") \
            if "org_code" in cols else ("", "")
        order = "x.pay_month DESC, " if sheet is contract.PAYROLL else ""
        df = con.execute(f'SELECT wb_mask(x.id_number) AS id_number, {sel}{extra} FROM "{sheet.table}" x {join}'
                         f" WHERE x.id_number = ? ORDER BY {order}x._file, x._row", [id_number]).df()
        for c in sheet.columns:
            if c.type == contract.DATE and len(df):
                df[c.name] = pd.to_datetime(df[c.name]).dt.strftime("%Y-%m-%d")
        names = {c.name: c.header for c in sheet.columns} | {"_org_name": "机构名称（机构表）"}
        out[sheet.name] = df.rename(columns=names)
    return out


class ExplorerApp:
    """分析员: filter findings by rule, severity, region and unit; paged table with masked IDs; unit and person
    drill-downs (a person's records across every source sheet, ID masked)."""

    def __init__(self, workspace: str | os.PathLike | None = None, page_size: int = PAGE_SIZE):
        self.workspace = resolve_workspace(workspace)
        self.page_size = page_size
        self.page = 0
        self.person: str | None = None
        self._page_ids: list[str] = []
        self._syncing = False
        self.load()
        self.root = self.build()
        self.update()
        self.root.add_class("wb-ready")

    def load(self) -> None:
        """Read the latest findings (full IDs stay in the kernel, masked ones are shown) and every unit."""
        self.stamp = snapshot_stamp(self.workspace)
        con = wsmod.reader(self.workspace)
        try:
            f = summaries.findings_list(con, pii="full")
            self.units = summaries.units(con).set_index("org_code")
            self.run_id = summaries.latest_run_id(con)
        finally:
            con.close()
        f["id_masked"] = ids.mask_ids(f["id_number"]).to_numpy() if len(f) else pd.Series(dtype=object)
        f["region_key"] = map_region(f["region_code"])
        f["region_name"] = f["region_key"].map(regions.regions().set_index("region_code")["name"])
        self.findings = f
        self._person_cache: dict[str, str] = {}

    # builders
    def build(self) -> w.Box:
        self.rule = w.Dropdown(options=self._rule_options(), description="规则")
        self.severity = w.Dropdown(options=[("全部", ALL)] + [(contract.SEVERITY_ZH[s], s)
                                                             for s in contract.SEVERITIES], description="严重程度")
        self.region = w.Dropdown(options=region_options(), description="地区")
        self.unit = w.Dropdown(options=[("全部机构", ALL)], description="机构")
        self.prev_btn, self.next_btn = w.Button(description="上一页"), w.Button(description="下一页")
        self.pager = w.HTML()
        self.table = w.HTML()
        self.person_select = w.Dropdown(options=[("请选择人员", -1)], value=-1, description="人员")
        self.unit_panel, self.person_panel, self.count = w.HTML(), w.HTML(), w.HTML()
        for widget, css in ((self.rule, "wb-filter-rule"), (self.severity, "wb-filter-severity"),
                            (self.region, "wb-filter-region"), (self.unit, "wb-filter-unit"),
                            (self.prev_btn, "wb-page-prev"), (self.next_btn, "wb-page-next"),
                            (self.pager, "wb-pager"), (self.table, "wb-findings"),
                            (self.person_select, "wb-person-select"), (self.unit_panel, "wb-unit-panel"),
                            (self.person_panel, "wb-person-panel"), (self.count, "wb-count")):
            widget.add_class(css)
        for widget in (self.rule, self.severity, self.unit):
            widget.observe(self._on_filter, "value")
        self.region.observe(self._on_region, "value")
        self.prev_btn.on_click(lambda _: self._turn(-1))
        self.next_btn.on_click(lambda _: self._turn(1))
        self.person_select.observe(self._on_person, "value")
        self._set_unit_options()
        self.title = w.HTML()
        self.title.add_class("wb-title")
        root = w.VBox([
            w.HTML(STYLE), self.title,
            w.HBox([self.rule, self.severity], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.region, self.unit], layout=w.Layout(flex_flow="row wrap")),
            self.count, self.table, w.HBox([self.prev_btn, self.pager, self.next_btn]),
            w.HTML("<h3>机构情况</h3>"), self.unit_panel,
            w.HTML("<h3>人员跨表核对</h3>"), self.person_select, self.person_panel,
        ])
        root.add_class("wb-app")
        root.add_class("wb-explorer")
        return root

    def _rule_options(self) -> list[tuple[str, str]]:
        rules = self.findings.drop_duplicates("rule_id").sort_values("rule_id")
        return [("全部规则", ALL), *((f"{r} {t}", r) for r, t in zip(rules["rule_id"], rules["title"], strict=True))]

    def _set_unit_options(self) -> None:
        """Units of the chosen region that have findings (most findings first, capped)."""
        f = self.findings
        if self.region.value:
            f = f[f["region_key"].isin(summaries.scope_codes(self.region.value))]
        top = f.groupby("org_code").size().sort_values(ascending=False, kind="stable").head(MAX_UNIT_OPTIONS)
        names = self.units["org_name"].reindex(top.index)
        label = [f"{n if isinstance(n, str) else '（未登记）'} {c}（{k}条）"
                 for c, n, k in zip(top.index, names, top.to_numpy(), strict=True)]
        self._syncing = True
        try:
            self.unit.options = [("全部机构", ALL), *zip(label, top.index, strict=True)]
            self.unit.value = ALL
        finally:
            self._syncing = False

    # events
    def _on_filter(self, _=None) -> None:
        if not self._syncing:
            self.page = 0
            self.update()

    def _on_region(self, _=None) -> None:
        self._set_unit_options()
        self._on_filter()

    def _turn(self, step: int) -> None:
        self.page += step
        self.update()

    def _on_person(self, change) -> None:
        if not self._syncing:
            idx = change["new"]
            self.person = self._page_ids[idx] if idx is not None and idx >= 0 else None
            self.update()

    # data
    def filtered(self) -> pd.DataFrame:
        """Findings matching the current filters (severity order as summaries.findings_list)."""
        f, keep = self.findings, np.ones(len(self.findings), dtype=bool)
        if self.rule.value:
            keep &= (f["rule_id"] == self.rule.value).to_numpy()
        if self.severity.value:
            keep &= (f["severity"] == self.severity.value).to_numpy()
        if self.region.value:
            keep &= f["region_key"].isin(summaries.scope_codes(self.region.value)).to_numpy()
        if self.unit.value:
            keep &= (f["org_code"] == self.unit.value).to_numpy()
        return f[keep]

    def unit_html(self, org_code: str | None) -> str:
        """Quota vs actual per 编制类型 and approved vs held leader posts of one unit."""
        if org_code is None:
            return '<div class="wb-note">在上方“机构”中选择一个机构，查看其编制与领导职数。</div>'
        if org_code not in self.units.index:
            return f'<div class="wb-note">机构 {html.escape(org_code)} 无登记与人员数据。</div>'
        u = self.units.loc[org_code]
        text = lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else html.escape(str(v))  # noqa: E731
        info = (f"<p><b>{text(u['org_name']) if u['registered'] else '（机构表中未登记）'}</b>"
                f"　{html.escape(org_code)}　{html.escape(region_name(u['region_code']))}"
                f"　{text(u['org_category'])}　{text(u['psi_class'])}　{text(u['funding'])}"
                f"{'' if u['in_scope'] else '　（生产经营类，不纳入核查）'}</p>")
        kinds = pd.DataFrame([(k, int(u[col]), int(u["staff_" + col.removeprefix("quota_")]))
                              for k, col in contract.EST_KINDS.items()], columns=["编制类型", "核定编制数", "实有人数"])
        kinds["差额(实有-核定)"] = kinds["实有人数"] - kinds["核定编制数"]
        posts = pd.DataFrame([(v, int(u[col]), int(u["held_" + col.removeprefix("approved_")]))
                              for v, col in contract.LEADER_LEVELS.items()], columns=["领导职务层次", "核定职数", "实配职数"])
        posts["超配数"] = (posts["实配职数"] - posts["核定职数"]).clip(lower=0)
        extra = (f'<p class="wb-note">财政供养人数（最新月份）{int(u["paid"]):,}；编外人数 {int(u["offstaff"]):,}；'
                 f'核定/实有内设机构 {int(u["approved_units"])}/{int(u["actual_units"])}</p>')
        return info + html_table(kinds, "wb-table wb-unit-kinds") + html_table(posts, "wb-table wb-unit-posts") + extra

    def person_html(self, id_number: str | None) -> str:
        """Every record of one person across the source sheets (read with a short-lived connection)."""
        if id_number is None:
            return '<div class="wb-note">在“人员”中按脱敏身份号码选择一人，查看其在各来源表中的全部记录。</div>'
        if id_number not in self._person_cache:
            self._person_cache[id_number] = self._person_html(id_number)
        return self._person_cache[id_number]

    def _person_html(self, id_number: str) -> str:
        con = wsmod.reader(self.workspace)
        try:
            records = person_records(con, id_number)
        finally:
            con.close()
        mine = self.findings[self.findings["id_number"] == id_number]
        parts = [f"<p><b>{html.escape(ids.mask_id(id_number))}</b>　涉及问题 {len(mine)} 条："
                 f"{html.escape('、'.join(sorted(set(mine['title']))) or '无')}</p>"]
        for sheet, df in records.items():
            parts.append(f"<h4>{html.escape(sheet)}（{len(df)} 条）</h4>")
            parts.append(html_table(df, f"wb-table wb-person-{contract.BY_NAME[sheet].table}",
                                    {contract.STAFF.column("id_number").header: "wb-id"})
                         if len(df) else '<div class="wb-note">无记录</div>')
        return "".join(parts)

    # the one update method
    def update(self) -> None:
        """Re-slice the findings, redraw the page, the unit panel and the person panel."""
        f = self.filtered()
        self.title.value = f"分析员 · 问题线索查询（规则运行批次 {self.run_id if self.run_id is not None else '无'}）"
        pages = max(1, -(-len(f) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        page = f.iloc[self.page * self.page_size:(self.page + 1) * self.page_size]
        self.count.value = f"符合条件的问题 <b>{len(f):,}</b> 条（共 {len(self.findings):,} 条）"
        self.table.value = html_table(page[list(FINDING_VIEW)].rename(columns=FINDING_VIEW),
                                      "wb-table wb-findings-table", {FINDING_VIEW["id_masked"]: "wb-id"})
        self.pager.value = f"第 {self.page + 1} / {pages} 页"
        self.prev_btn.disabled, self.next_btn.disabled = self.page == 0, self.page >= pages - 1
        persons = page[page["id_number"].notna() & (page["id_number"] != "")].drop_duplicates("id_number")
        ids_now = persons["id_number"].tolist()
        if self.person not in ids_now:  # the drill-down follows the person chosen on this page
            self.person = None
        if ids_now != self._page_ids:
            self._syncing = True
            try:
                self._page_ids = ids_now
                self.person_select.options = [("请选择人员", -1)] + [
                    (f"{m} · {n if isinstance(n, str) else c}", i)
                    for i, (m, n, c) in enumerate(zip(persons["id_masked"], persons["org_name"],
                                                      persons["org_code"], strict=True))]
                self.person_select.value = ids_now.index(self.person) if self.person in ids_now else -1
            finally:
                self._syncing = False
        self.unit_panel.value = self.unit_html(self.unit.value or None)
        self.person_panel.value = self.person_html(self.person)

    def show(self) -> None:
        """Display the app; a preheated kernel first waits for the visitor and reloads if a writer published."""
        wait_for_visitor()
        if snapshot_stamp(self.workspace) != self.stamp:
            self.load()
            self._syncing = True
            try:
                self.rule.options, self.rule.value = self._rule_options(), ALL
            finally:
                self._syncing = False
            self._set_unit_options()
            self.page, self._page_ids = 0, []
            self.update()
        display(self.root)


def build(name: str, workspace: str | os.PathLike | None = None):
    """The app of a dashboard by name (overview / explorer)."""
    apps: dict[str, Callable] = {"overview": OverviewApp, "explorer": ExplorerApp}
    return apps[name](workspace)


__all__: Iterable[str] = (
    "DASHBOARDS",
    "WORKSPACE_ENV",
    "ExplorerApp",
    "OverviewApp",
    "OverviewData",
    "build",
    "person_records",
    "plotly_output",
    "progress_flags",
    "progress_html",
    "progress_rows",
    "resolve_workspace",
)
