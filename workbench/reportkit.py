"""What the report notebook (``notebooks/40-region-report.ipynb``) calls: open the report's scope, record values,
show tables, render plotly figures against the page's local plotly.js.

The figures and numbers themselves come from :mod:`workbench.summaries` and :mod:`workbench.figures` (shared
with the dashboards); this module only selects the scope (a region, or a provincial unit with the institutions
under it) and presents. Imports are light: every report kernel imports it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRAP_MIME = "application/scrapbook.scrap.json+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
UNIT = "unit"
PII_MODES = ("masked", "full")


# ============================================================================================ scope
@dataclass
class Report:
    """The scope of one report: a region (province/city/county) or a provincial unit (+ its sub-units)."""

    con: Any
    code: str
    name: str
    level: str  # province | city | county | unit
    pii: str = "masked"
    org_codes: list[str] = field(default_factory=list)  # units only: the unit and the units under it
    as_of: str = ""
    snapshot: tuple = ()  # identity of the snapshot read (path, mtime, size): the key of the frame cache

    @property
    def is_unit(self) -> bool:
        return self.level == UNIT

    @property
    def region(self) -> str | None:
        """The region code the summaries are asked for (a unit's summaries are taken at its region)."""
        return self.code if not self.is_unit else None

    @property
    def has_children(self) -> bool:
        from . import regions

        return not self.is_unit and bool(regions.children(self.code))

    @property
    def title(self) -> str:
        from . import regions

        kind = "省直单位" if self.is_unit else regions.LEVEL_ZH.get(self.level, "")
        return f"{self.name}（{self.code}，{kind}）编制核查报告"


def open_report(workspace: str, code: str, pii: str = "masked", con=None) -> Report:
    """Open the workspace's read-only snapshot (or use ``con``, a reader on it) and resolve ``code`` (a region
    code or a unit's USCC)."""
    from . import regions
    from . import workspace as ws

    if pii not in PII_MODES:
        raise ValueError(f"pii 参数只能是 masked 或 full，而不是“{pii}”")
    if not workspace:
        raise ValueError("未指定工作区（参数 workspace）")
    con = con if con is not None else ws.reader(workspace)
    as_of = str(ws.as_of(con))
    snap = ws.snapshot_path(workspace) if ws.snapshot_path(workspace).exists() else Path(workspace)
    st = snap.stat()
    key = (str(snap.resolve()), st.st_mtime_ns, st.st_size)
    if code in regions.codes():
        return Report(con, code, regions.name_of(code), regions.level_of(code), pii, as_of=as_of, snapshot=key)
    row = con.execute("SELECT any_value(org_name) FROM orgs WHERE org_code = ?", [code]).fetchone()
    if row is None or row[0] is None:
        con.close()
        raise ValueError(f"未知的行政区划代码或机构代码：{code}")
    return Report(con, code, row[0], UNIT, pii, unit_scope(con, code), as_of, key)


def unit_scope(con, code: str) -> list[str]:
    """A unit and every institution under it (主管部门代码 chain)."""
    return [r[0] for r in con.execute(
        """WITH RECURSIVE sub(org_code) AS (
               SELECT ?::VARCHAR UNION
               SELECT o.org_code FROM orgs o JOIN sub ON o.parent_org_code = sub.org_code)
           SELECT org_code FROM sub ORDER BY org_code""", [code]).fetchall()]


def for_scope(rep: Report, frame, column: str = "org_code"):
    """Rows of a per-unit frame that belong to the report (all rows for a region report)."""
    if not rep.is_unit:
        return frame
    return frame[frame[column].isin(rep.org_codes)].reset_index(drop=True)


_CACHE: dict[tuple, Any] = {}


def whole(rep: Report, fn, **kwargs):
    """``fn(con, None, **kwargs)`` — a summaries function over the whole province — computed once per snapshot
    and process. A batch run reuses each worker's kernel, so every report after the first only filters these
    frames (:func:`in_scope`, :func:`own_row`, :func:`children_rows`) instead of querying again. The snapshot
    is read-only, so the cached frames are exactly what a fresh query would return."""
    key = (rep.snapshot, fn.__module__, fn.__qualname__, tuple(sorted(kwargs.items())))
    if key not in _CACHE:
        if any(k[0] != rep.snapshot for k in _CACHE):
            _CACHE.clear()
        _CACHE[key] = fn(rep.con, None, **kwargs)
    return _CACHE[key]


def in_scope(rep: Report, frame):
    """Rows of a per-unit (or per-region) frame of the whole province that lie in the report's scope: the
    region and every region below it, or the unit and the institutions under it."""
    from . import regions

    if rep.is_unit:
        return for_scope(rep, frame)
    if rep.level == "province":
        return frame.reset_index(drop=True)
    return frame[frame["region_code"].isin(regions.descendants(rep.code))].reset_index(drop=True)


def headline_of(rep: Report, inst, tw, fr, clears) -> dict[str, Any]:
    """The headline numbers from the report's own rows (the same fields as :func:`headline`)."""
    if rep.is_unit:
        return headline(rep.con, rep.code, UNIT, rep.org_codes)
    row = {**inst.iloc[0].to_dict(), **tw.iloc[0].to_dict(), **fr.iloc[0].to_dict()}
    row["clears_passed"] = int(clears["passed"].sum())
    return {k: _plain(row.get(k)) for k in HEADLINE_KEYS}


def findings(rep: Report):
    """The findings list of the report's scope (latest run, IDs masked unless pii=full)."""
    from . import summaries

    return for_scope(rep, summaries.findings_list(rep.con, rep.region, pii=rep.pii))


HEADLINE_KEYS = ("units", "quota", "staff", "paid", "findings", "findings_critical", "findings_high",
                 "clears_passed")


def headline(con, code: str, level: str | None = None, org_codes: list[str] | None = None) -> dict[str, Any]:
    """Headline numbers of a region (summaries.headline) or of a unit scope (from the per-unit summaries)."""
    from . import summaries

    if level != UNIT:
        row = summaries.headline(con, code).iloc[0].to_dict()
        return {k: _plain(row.get(k)) for k in HEADLINE_KEYS if k in row}
    return headlines(con, [], {code: org_codes or [code]})[code]


def headlines(con, codes: list[str], units: dict[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Headline numbers of many regions (and units: code -> its org codes) with one query per summary: the
    numbers of summaries.headline, taken from the province-wide frames."""
    from . import summaries

    out: dict[str, dict[str, Any]] = {}
    if codes:
        inst = summaries.institutions(con, None).set_index("region_code")
        tw = summaries.three_way(con, None).set_index("region_code")
        fr = summaries.findings_by_region(con, None).set_index("region_code")
        fc = summaries.four_clears(con, None).groupby("region_code")["passed"].sum()
        for code in codes:
            if code not in inst.index:
                continue
            row = {**inst.loc[code].to_dict(), **tw.loc[code].to_dict(), **fr.loc[code].to_dict(),
                   "clears_passed": int(fc.get(code, 0))}
            out[code] = {k: _plain(row.get(k)) for k in HEADLINE_KEYS}
    if units:
        tw_u = summaries.three_way_by_unit(con, None)
        fl = summaries.findings_list(con, None)
        for code, orgs in units.items():
            u, f = tw_u[tw_u["org_code"].isin(orgs)], fl[fl["org_code"].isin(orgs)]
            clears = four_clears(Report(con, code, code, UNIT, org_codes=orgs))
            out[code] = {"units": int(u["registered"].sum()), "quota": int(u["quota"].sum()),
                         "staff": int(u["staff"].sum()), "paid": int(u["paid"].sum()), "findings": len(f),
                         "findings_critical": int((f["severity"] == "critical").sum()),
                         "findings_high": int((f["severity"] == "high").sum()),
                         "clears_passed": int(clears["passed"].sum())}
    return out


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


# ========================================================================================= presenting
def setup() -> None:
    """Called first by the notebook: plotly figures render as a div using the page's plotly.js."""
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    class Renderer(MimetypeRenderer):
        """A div for the HTML report (no embedded plotly.js) plus the plotly JSON for JupyterLab."""

        def to_mimebundle(self, fig_dict: dict) -> dict:
            config = {"displaylogo": False, "responsive": True}
            div = pio.to_html(fig_dict, include_plotlyjs=False, full_html=False, config=config, validate=False)
            return {"text/html": div, PLOTLY_MIME: {"data": fig_dict.get("data", []),
                                                    "layout": fig_dict.get("layout", {}), "config": config}}

    pio.renderers["workbench"] = Renderer()
    pio.renderers.default = "workbench"


def record(name: str, value: Any) -> None:
    """Record a value in the executed notebook, readable by ``scrapbook.read_notebook(path).scraps``.

    The output format of ``scrapbook.glue(name, value)`` with the JSON encoder, without importing scrapbook
    (1 s per kernel). DataFrames are stored as a list of records.
    """
    from IPython.display import display

    payload = {"name": name, "data": jsonable(value), "encoder": "json", "version": 1}
    display({SCRAP_MIME: payload}, metadata={"scrapbook": {"name": name, "data": True, "display": False}},
            raw=True)


def jsonable(value: Any) -> Any:
    """Value as plain JSON types (DataFrame -> records, Series -> dict, numpy scalars -> numbers)."""
    if hasattr(value, "to_json") and hasattr(value, "columns"):
        return json.loads(value.to_json(orient="records", force_ascii=False, date_format="iso"))
    if hasattr(value, "to_json"):
        return json.loads(value.to_json(force_ascii=False, date_format="iso"))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return _plain(value)


#: Labels for columns summaries.LABELS leaves in English (or labels differently in a per-unit table).
EXTRA_LABELS = {"approved_doc": "有批准文号", "mixed": "混编混岗", "org_codes": "机构代码"}
PERCENT_COLUMNS = {"coverage"}


def table(frame, max_rows: int | None = None, note: str = "", labels: dict[str, str] | None = None):
    """A DataFrame as an HTML table: a note above it, Chinese headers (summaries.LABELS), no index, blanks for
    missing values, 是/否 for booleans, optional row cap."""
    import html as _html

    from IPython.display import HTML

    from . import summaries

    frame = frame.copy()
    for col in PERCENT_COLUMNS & set(frame.columns):
        frame[col] = [f"{float(v):.1%}" if _plain(v) is not None else "" for v in frame[col]]
    df = frame.rename(columns={**EXTRA_LABELS, **(labels or {})})
    df = summaries.zh(df)
    head = f"<p class='wb-caption'>{_html.escape(note)}</p>" if note else ""
    tail = ""
    if max_rows is not None and len(df) > max_rows:
        tail = f"<p class='wb-note'>共 {len(df)} 行，此处显示前 {max_rows} 行，完整清单见整改台账。</p>"
        df = df.head(max_rows)
    if df.empty:
        return HTML(head + "<p class='wb-note'>（无）</p>")
    df = df.astype(object).where(df.notna(), "")
    df = df.map(lambda v: "是" if v is True else ("否" if v is False else v))
    return HTML(head + df.to_html(index=False, classes="wb-table", border=0, escape=True) + tail)


def cards(items: dict[str, Any]):
    """Headline figures as a row of cards."""
    import html as _html

    from IPython.display import HTML

    body = "".join(
        f"<div class='wb-card'><div>{_html.escape(str(k))}</div><div class='v'>{_html.escape(_fmt(v))}</div></div>"
        for k, v in items.items())
    return HTML(f"<div class='wb-cards'>{body}</div>")


def _fmt(v: Any) -> str:
    v = _plain(v)
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"
    return str(v)


def heading(rep: Report):
    """The report's title block (Markdown)."""
    from IPython.display import Markdown

    pii = "完整显示（请注意信息安全）" if rep.pii == "full" else "已脱敏（如 620102********1234）"
    return Markdown(f"# {rep.title}\n\n数据基准日：{rep.as_of}　·　生成日期：{dt.date.today().isoformat()}"
                    f"　·　身份证号码：{pii}")


# ========================================================================================= sections
def own_row(rep: Report, frame):
    """The report region's own row(s) of a per-region summary (empty for a unit report)."""
    if rep.is_unit:
        return frame.iloc[0:0]
    return frame[frame["region_code"] == rep.code].reset_index(drop=True)


def children_rows(rep: Report, frame):
    """The direct children's rows of a per-region summary, in region order (empty without children)."""
    from . import regions

    if rep.is_unit:
        return frame.iloc[0:0]
    kids = regions.children(rep.code)
    return frame[frame["region_code"].isin(kids)].reset_index(drop=True)


def four_clears(rep: Report):
    """The four clears of the report's scope: summaries.four_clears for a region (its own row); for a unit the
    same columns from the unit scope's findings (severity info excluded, rules not run flagged)."""
    import pandas as pd

    from . import contract, summaries

    if not rep.is_unit:
        return own_row(rep, whole(rep, summaries.four_clears))
    clears = summaries.rule_clears()
    not_run = set(summaries.rules_not_run(rep.con, clears))
    fl = findings(rep)
    fl = fl[fl["severity"] != "info"]
    counts = fl["rule_id"].map(clears).value_counts()
    rows = []
    for c in contract.CLEARS:
        rules = sorted(r for r, cc in clears.items() if cc == c)
        nr = "、".join(r for r in rules if r in not_run)
        n = int(counts.get(c, 0))
        status = "未通过" if n else ("未完全核查" if nr else "通过")
        rows.append({"region_code": rep.code, "name": rep.name, "level": UNIT, "level_zh": "省直单位",
                     "parent_code": None, "clear": c, "rules": "、".join(rules), "findings": n, "not_run": nr,
                     "passed": n == 0 and not nr, "status": status})
    return pd.DataFrame(rows)


def sampling_plan(rep: Report):
    """The picked units of the latest 督查验收 plan within the report's scope (None when no plan exists)."""
    from . import regions

    tables = {r[0] for r in rep.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "sample_plan" not in tables or not rep.con.execute("SELECT count(*) FROM sample_plan").fetchone()[0]:
        return None
    from . import sampling

    plan = sampling.load_plan(rep.con)
    units = plan.units[plan.units["picked"]]
    if rep.is_unit:
        units = units[units["unit_code"] == rep.code]
    elif rep.level != "province":
        units = units[units["unit_code"].isin(regions.descendants(rep.code))]
    cols = [c for c in ("universe", "stratum_name", "unit_code", "unit_name", "staff", "n_critical_findings",
                        "forced", "reason", "team_name") if c in units.columns]
    return {"plan_id": plan.plan_id, "seed": plan.params.get("seed"), "ratio": plan.params.get("ratio"),
            "units": sampling.zh(units[cols].reset_index(drop=True))}


def findings_by_rule(rep: Report, fl=None):
    """Findings per rule of the scope: summaries.findings_by_rule for a region, the same columns for a unit."""
    from . import summaries

    if not rep.is_unit:
        return summaries.findings_by_rule(rep.con, rep.code)
    fl = findings(rep) if fl is None else fl
    out = fl.groupby(["rule_id", "title", "severity", "severity_zh"], as_index=False).agg(
        findings=("rule_id", "size"), units=("org_code", "nunique"), persons=("id_number", "nunique"))
    order = {s: i for i, s in enumerate(summaries.SEVERITIES)}
    out = out.assign(_o=out["severity"].map(order)).sort_values(["_o", "findings", "rule_id"],
                                                                 ascending=[True, False, True])
    return out.drop(columns="_o").reset_index(drop=True)[["rule_id", "title", "severity", "severity_zh",
                                                           "findings", "units", "persons"]]


def note(text: str):
    """A short grey note paragraph."""
    import html as _html

    from IPython.display import HTML

    return HTML(f"<p class='wb-note'>{_html.escape(text)}</p>")


def totals(rep: Report, own, per_unit, by: str, values: list[str]):
    """The region's own summary rows, or for a unit report the per-unit rows summed by ``by`` (same shape
    the figures expect: region_code, name, ``by``, values)."""
    if not rep.is_unit:
        return own
    out = per_unit.groupby(by, as_index=False, sort=False)[values].sum()
    out.insert(0, "name", rep.name)
    out.insert(0, "region_code", rep.code)
    return out


def unit_bars(rep: Report, own, per_unit):
    """Rows for a per-region bar chart: the region's own row, or for a unit report one row per institution."""
    if not rep.is_unit:
        return own
    return per_unit.assign(name=per_unit["org_name"].fillna(per_unit["org_code"]))


def rollup_rows(rep: Report):
    """The roll-up check rows of the report region and the regions below it that have children (cached
    summaries.rollup_check over the province, filtered); empty for a county or a unit."""
    from . import regions, summaries

    if not rep.has_children:
        return whole(rep, summaries.rollup_check).iloc[0:0]
    check = whole(rep, summaries.rollup_check)
    return check[check["parent_code"].isin(regions.descendants(rep.code))].reset_index(drop=True)
