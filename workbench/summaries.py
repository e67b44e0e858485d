"""Summaries of a workspace for reports and dashboards: functions ``(con, region_code=None, ...) -> DataFrame``.

Conventions (shared by every function here):

* ``con`` is any workspace connection (a read-only :func:`workspace.reader` is enough: nothing is written).
* A unit *sits* in its 机构 行政区划代码. A code found only in 人员/编外人员/财政发放 (an unregistered unit,
  ORG_UNKNOWN) sits in the region of digits 3–8 of its code when that is a valid USCC; findings sit in their
  ``region_code``. A code that is not in ``data/regions.csv`` is attached to its city (first four digits) when
  that city exists, else to the province — so nothing is ever lost from the provincial totals.
* ``region_code=None`` (or the province code) means the whole workspace. Per-region frames list the region and
  every region below it; figures are *rolled up* by default: a county's units; a city = its city-level units +
  its counties; the province = the provincial units (620000) + its cities. ``rollup=False`` gives each region's
  *own* figures (units sitting exactly there). :func:`rollup_check` proves total = own + Σ children.
* Scope (DESIGN §4): units with 事业单位类别 = 生产经营类 are left out of every establishment figure; their
  number is shown as ``units_out_of_scope``. Per-region sums are sums over units (a person on two units'
  rosters counts on both), so every figure adds up along the hierarchy.
* Payroll figures use the latest 发放月份 in the workspace. Findings come from the latest rule run.
* Person-level frames mask ID numbers (``wb_mask``) unless ``pii="full"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

import duckdb
import pandas as pd

from . import contract, regions

SEVERITIES = contract.SEVERITIES
SEVERITY_ZH = contract.SEVERITY_ZH
EST_KINDS = contract.EST_KINDS
LEADER_LEVELS = contract.LEADER_LEVELS
_KIND_KEY = {"行政编制": "admin", "政法专项编制": "legal", "事业编制": "inst", "工勤编制": "worker"}
_LEVEL_KEY = {"正职": "chief", "副职": "deputy"}

#: Chinese labels of every column the summaries return (reports and dashboards rename with :func:`zh`).
LABELS: dict[str, str] = {
    "region_code": "行政区划代码", "name": "地区", "level": "层级", "parent_code": "上级区划",
    "level_zh": "层级", "org_code": "机构代码", "org_name": "机构名称", "registered": "已登记",
    "in_scope": "纳入核查", "org_category": "机构类别", "psi_class": "事业单位类别", "funding": "经费形式",
    "units": "机构数", "units_approved": "经批准机构数", "units_unapproved": "未经批准机构数",
    "units_out_of_scope": "不纳入核查机构数", "units_unregistered": "未登记机构数",
    "approved_units": "核定内设机构数", "actual_units": "实有内设机构数", "units_excess_internal": "超设内设机构的机构数",
    "est_kind": "编制类型", "quota": "核定编制数", "staff": "实有人数", "paid": "财政供养人数",
    "offstaff": "编外人数", "diff": "差额(实有-核定)", "units_over": "超编机构数", "vacancy": "空编数",
    "staff_minus_quota": "实有-核定", "paid_minus_quota": "财政供养-核定", "paid_minus_staff": "财政供养-实有",
    "balanced": "三数一致", "pay_month": "发放月份",
    "leader_level": "领导职务层次", "approved": "核定职数", "held": "实配职数", "over": "超配数",
    "clear": "四清", "rules": "对应规则", "findings": "问题数", "passed": "是否通过", "status": "结论",
    "not_run": "未运行规则", "rule_id": "规则编号", "title": "问题名称", "severity": "严重程度",
    "severity_zh": "严重程度", "id_number": "公民身份号码", "item": "事项", "detail": "问题说明",
    "persons": "涉及人数", "metric": "指标", "metric_zh": "指标", "parent_value": "上级合计",
    "own_value": "本级", "children_sum": "下级合计", "expected": "本级+下级合计", "ok": "一致",
    "sheet": "数据表", "table": "表名", "loaded": "已导入", "files": "文件数", "rows": "行数",
    "roster_ids": "在编人数(去重)", "roster_covered": "覆盖在编人数", "coverage": "在编人员覆盖率",
    "reason": "原因", "column": "列", "rejects": "拒收行数", "clears_passed": "通过的四清项数",
    "approved_doc": "有批准文号", "mixed": "混编混岗", "file": "文件", "row": "行号",
    "sex": "性别", "birth_date": "出生日期", "staff_class": "身份类别", "post": "职务",
    "entry_date": "进入本单位时间", "units_over_quota": "超编机构数",
    **{f"findings_{s}": f"{SEVERITY_ZH[s]}问题数" for s in SEVERITIES},
}


def zh(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with Chinese column names (for display)."""
    return df.rename(columns={c: LABELS[c] for c in df.columns if c in LABELS})


# ------------------------------------------------------------------------------------------ regions
@cache
def _region_sql() -> tuple[str, str, str]:
    """SQL VALUES for the region table, the (region, ancestor-or-self) pairs and a code-mapping expression."""
    r = regions.regions()
    parents = [p if isinstance(p, str) and p else None for p in r["parent_code"]]
    rows = ", ".join(
        f"('{c}', '{n}', '{lv}', " + (f"'{p}')" if p else "NULL)")
        for c, n, lv, p in zip(r["region_code"], r["name"], r["level"], parents, strict=True)
    )
    parent = dict(zip(r["region_code"], parents, strict=True))
    pairs = []
    for code in r["region_code"]:
        a = code
        while a:
            pairs.append(f"('{code}', '{a}')")
            a = parent[a]
    codes = ", ".join(f"'{c}'" for c in r["region_code"])
    return rows, ", ".join(pairs), codes


def _map_region(expr: str) -> str:
    """SQL mapping any code to a known region: itself, else its city, else the province."""
    _, _, codes = _region_sql()
    prov = regions.province_code()
    return (f"CASE WHEN ({expr}) IN ({codes}) THEN ({expr})"
            f" WHEN substr({expr}, 1, 4) || '00' IN ({codes}) THEN substr({expr}, 1, 4) || '00'"
            f" ELSE '{prov}' END")


def _regions_cte() -> str:
    rows, pairs, _ = _region_sql()
    return (f"reg(region_code, name, level, parent_code) AS (VALUES {rows}),"
            f" anc(region_code, ancestor) AS (VALUES {pairs})")


def scope_codes(region_code: str | None = None) -> list[str]:
    """The region and every region below it (all regions for None)."""
    if region_code is None or region_code == regions.province_code():
        return regions.regions()["region_code"].tolist()
    if region_code not in regions.codes():
        raise ValueError(f"行政区划代码不存在：{region_code}")
    return regions.descendants(region_code)


def _in_list(region_code: str | None) -> str:
    return ", ".join(f"'{c}'" for c in scope_codes(region_code))


def children_rows(df: pd.DataFrame, region_code: str | None = None) -> pd.DataFrame:
    """Rows of a per-region frame for the direct children of ``region_code`` (the cities for None)."""
    code = region_code or regions.province_code()
    return df[df["parent_code"] == code].reset_index(drop=True)


def region_rows(df: pd.DataFrame, region_code: str | None = None) -> pd.DataFrame:
    """Rows of a per-region frame for ``region_code`` itself (the province for None)."""
    code = region_code or regions.province_code()
    return df[df["region_code"] == code].reset_index(drop=True)


def _with_level_zh(df: pd.DataFrame) -> pd.DataFrame:
    if "level" in df.columns:
        df.insert(df.columns.get_loc("level") + 1, "level_zh", df["level"].map(regions.LEVEL_ZH))
    return df


def _order_regions(df: pd.DataFrame) -> pd.DataFrame:
    order = {c: i for i, c in enumerate(regions.regions()["region_code"])}
    return df.sort_values("region_code", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------ units
def _read_only(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(row and row[0])


def _units_cte(con: duckdb.DuckDBPyConnection) -> str:
    """CTEs ``pm`` (latest pay month) and ``u``: one row per unit with every per-unit figure.

    On a read-only connection (a published snapshot, which never changes under it) ``u`` is computed once
    into a per-connection temporary table, so a dashboard's filter changes do not rescan the roster.
    """
    if _read_only(con):
        try:
            con.execute("SELECT 1 FROM temp.main.wb_summary_units LIMIT 0")
        except duckdb.CatalogException:
            con.execute(f"CREATE TEMP TABLE wb_summary_units AS WITH {_units_sql()} SELECT * FROM u")
        return "pm AS (SELECT max(pay_month) AS m FROM payroll), u AS (SELECT * FROM wb_summary_units)"
    return _units_sql()


@cache
def _units_sql() -> str:
    """The CTEs computing ``u`` from the workspace tables."""
    flags = ", ".join(
        [f"bool_or(est_kind = '{k}') AS k_{_KIND_KEY[k]}" for k in EST_KINDS]
        + [f"bool_or(leader_level = '{v}') AS l_{_LEVEL_KEY[v]}" for v in LEADER_LEVELS])
    kind_staff = ", ".join(
        f"count(id_number) FILTER (WHERE k_{_KIND_KEY[k]}) AS staff_{_KIND_KEY[k]}" for k in EST_KINDS)
    held = ", ".join(
        f"count(id_number) FILTER (WHERE l_{_LEVEL_KEY[v]}) AS held_{_LEVEL_KEY[v]}" for v in LEADER_LEVELS)
    quotas = ", ".join(f"COALESCE(o.{col}, 0) AS quota_{_KIND_KEY[k]}" for k, col in EST_KINDS.items())
    posts = ", ".join(f"COALESCE(o.{col}, 0) AS approved_{_LEVEL_KEY[v]}" for v, col in LEADER_LEVELS.items())
    zero = ", ".join(
        [f"COALESCE(st.staff_{_KIND_KEY[k]}, 0) AS staff_{_KIND_KEY[k]}" for k in EST_KINDS]
        + [f"COALESCE(st.held_{_LEVEL_KEY[v]}, 0) AS held_{_LEVEL_KEY[v]}" for v in LEADER_LEVELS])
    quota_sum = " + ".join(f"COALESCE(o.{col}, 0)" for col in EST_KINDS.values())
    region = _map_region(
        "COALESCE(o.region_code, CASE WHEN wb_uscc_valid(c.org_code) THEN substr(c.org_code, 3, 6) END)")
    return f"""
    pm AS (SELECT max(pay_month) AS m FROM payroll),
    sp AS (SELECT org_code, id_number, {flags} FROM staff GROUP BY org_code, id_number),
    st AS MATERIALIZED (SELECT org_code, count(id_number) AS staff, {kind_staff}, {held} FROM sp GROUP BY org_code),
    pay AS MATERIALIZED (SELECT org_code, count(id_number) AS paid FROM (SELECT DISTINCT org_code, id_number FROM payroll
            WHERE pay_month = (SELECT m FROM pm)) GROUP BY org_code),
    offs AS MATERIALIZED (SELECT org_code, count(id_number) AS offstaff
             FROM (SELECT DISTINCT org_code, id_number FROM offstaff) GROUP BY org_code),
    codes AS (SELECT org_code FROM orgs UNION SELECT org_code FROM st UNION SELECT org_code FROM pay
              UNION SELECT org_code FROM offs),
    u AS (
        SELECT c.org_code, o.org_name, o.org_code IS NOT NULL AS registered,
               COALESCE(o.psi_class, '') <> '{contract.OUT_OF_SCOPE_PSI}' AS in_scope,
               {region} AS region_code,
               o.org_category, o.psi_class, o.funding,
               o.org_code IS NOT NULL AND COALESCE(trim(o.approval_doc), '') <> '' AS approved_doc,
               COALESCE(o.approved_units, 0) AS approved_units, COALESCE(o.actual_units, 0) AS actual_units,
               {quotas}, {quota_sum} AS quota, {posts},
               COALESCE(st.staff, 0) AS staff, {zero},
               COALESCE(pay.paid, 0) AS paid, COALESCE(offs.offstaff, 0) AS offstaff
        FROM codes c LEFT JOIN orgs o ON o.org_code = c.org_code
             LEFT JOIN st ON st.org_code = c.org_code LEFT JOIN pay ON pay.org_code = c.org_code
             LEFT JOIN offs ON offs.org_code = c.org_code)"""


def _org_filter(org_codes: Iterable[str] | None, col: str = "org_code") -> tuple[str, list]:
    """SQL condition and parameters limiting rows to ``org_codes`` (no limit for None)."""
    if org_codes is None:
        return "TRUE", []
    if isinstance(org_codes, str):
        org_codes = [org_codes]
    return f"{col} IN (SELECT unnest(?::VARCHAR[]))", [list(org_codes)]


def units(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
          org_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """Per unit: registration, scope, region, internal units, quota per kind, posts, staff, paid, offstaff.

    Unregistered codes (seen in 人员/编外人员/财政发放 only) appear with ``registered`` False.
    ``org_codes`` limits the frame to those units (e.g. a provincial unit's report).
    """
    cond, params = _org_filter(org_codes)
    sql = f"WITH {_units_cte(con)} SELECT * FROM u WHERE region_code IN ({_in_list(region_code)}) AND {cond}" \
          " ORDER BY region_code, org_code"
    return con.execute(sql, params).df()


def _aggregate(con, select_from: str, metrics: Mapping[str, str], region_code: str | None,
               rollup: bool) -> pd.DataFrame:
    """Aggregate rows of ``select_from`` (a relation with region_code) to every region in scope.

    Metrics are counts or sums over ``x``: first per region the row sits in, then summed over the region
    and (rolled up) every region below it.
    """
    own = ", ".join(f"{expr} AS {name}" for name, expr in metrics.items())
    total = ", ".join(f"CAST(COALESCE(sum(g.{name}), 0) AS BIGINT) AS {name}" for name in metrics)
    join = ("LEFT JOIN anc a ON a.ancestor = r.region_code LEFT JOIN g ON g.region_code = a.region_code"
            if rollup else "LEFT JOIN g ON g.region_code = r.region_code")
    sql = f"""WITH {_regions_cte()}, x AS ({select_from}),
        g AS (SELECT x.region_code, {own} FROM x GROUP BY x.region_code)
        SELECT r.region_code, r.name, r.level, r.parent_code, {total}
        FROM reg r {join}
        WHERE r.region_code IN ({_in_list(region_code)})
        GROUP BY r.region_code, r.name, r.level, r.parent_code"""
    return _with_level_zh(_order_regions(con.execute(sql).df()))


_UNIT_METRICS = {
    "units": "count(*) FILTER (WHERE x.registered AND x.in_scope)",
    "units_approved": "count(*) FILTER (WHERE x.registered AND x.in_scope AND x.approved_doc)",
    "units_unapproved": "count(*) FILTER (WHERE x.registered AND x.in_scope AND NOT x.approved_doc)",
    "units_out_of_scope": "count(*) FILTER (WHERE x.registered AND NOT x.in_scope)",
    "units_unregistered": "count(*) FILTER (WHERE NOT x.registered)",
    "approved_units": "sum(x.approved_units) FILTER (WHERE x.registered AND x.in_scope)",
    "actual_units": "sum(x.actual_units) FILTER (WHERE x.registered AND x.in_scope)",
    "units_excess_internal": "count(*) FILTER (WHERE x.registered AND x.in_scope"
                             " AND x.actual_units > x.approved_units)",
}


def institutions(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                 rollup: bool = True) -> pd.DataFrame:
    """Per region: 机构数 (in scope, approved by a 批准文号 or not), out-of-scope and unregistered counts,
    核定 vs 实有 内设机构数 and units with more internal units than approved."""
    return _aggregate(con, f"WITH {_units_cte(con)} SELECT * FROM u", _UNIT_METRICS, region_code, rollup)


def institutions_by_unit(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                         org_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """Per registered unit: approval, scope, 核定 vs 实有 内设机构数."""
    df = units(con, region_code, org_codes)
    df = df[df["registered"]]
    cols = ["region_code", "org_code", "org_name", "org_category", "psi_class", "in_scope", "approved_doc",
            "approved_units", "actual_units"]
    out = df[cols].copy()
    out["diff"] = out["actual_units"] - out["approved_units"]
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------------------------ establishment
def _kind_rows(region_cols: str) -> str:
    """UNION ALL of one row per kind from relation ``x`` with columns quota_*/staff_*."""
    return " UNION ALL ".join(
        f"SELECT {region_cols}, '{k}' AS est_kind, quota_{_KIND_KEY[k]} AS quota, staff_{_KIND_KEY[k]} AS staff"
        f" FROM x" for k in EST_KINDS)


def establishment_by_kind(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                          rollup: bool = True) -> pd.DataFrame:
    """Per region × 编制类型: 核定编制数, 实有人数, difference, units over quota (EST_OVER's test) and vacancies.

    Only registered in-scope units count (DESIGN §4 unit-level scope).
    """
    per_kind = _kind_rows("region_code, org_code")
    sql = f"""WITH {_regions_cte()}, {_units_cte(con)},
        x AS (SELECT * FROM u WHERE registered AND in_scope),
        k0 AS ({per_kind}),
        k AS (SELECT region_code, est_kind, sum(quota) AS quota, sum(staff) AS staff,
                     count(*) FILTER (WHERE quota > 0 AND staff > quota) AS units_over,
                     sum(greatest(quota - staff, 0)) AS vacancy
              FROM k0 GROUP BY region_code, est_kind),
        kinds(est_kind, pos) AS (VALUES {", ".join(f"('{k}', {i})" for i, k in enumerate(EST_KINDS))})
        SELECT r.region_code, r.name, r.level, r.parent_code, kinds.est_kind,
               COALESCE(sum(k.quota), 0) AS quota, COALESCE(sum(k.staff), 0) AS staff,
               COALESCE(sum(k.staff), 0) - COALESCE(sum(k.quota), 0) AS diff,
               CAST(COALESCE(sum(k.units_over), 0) AS BIGINT) AS units_over,
               COALESCE(sum(k.vacancy), 0) AS vacancy
        FROM reg r CROSS JOIN kinds
        {"LEFT JOIN anc a ON a.ancestor = r.region_code" if rollup else ""}
        LEFT JOIN k ON k.region_code = {"a.region_code" if rollup else "r.region_code"}
                    AND k.est_kind = kinds.est_kind
        WHERE r.region_code IN ({_in_list(region_code)})
        GROUP BY r.region_code, r.name, r.level, r.parent_code, kinds.est_kind, kinds.pos
        ORDER BY kinds.pos"""
    df = con.execute(sql).df()
    for c in ("quota", "staff", "diff", "vacancy"):
        df[c] = df[c].astype("int64")
    return _with_level_zh(_order_regions(df))


def establishment_by_unit(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                          org_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """Per registered in-scope unit × 编制类型 (kinds with a quota or staff): 核定, 实有, difference."""
    cond, params = _org_filter(org_codes)
    sql = f"""WITH {_units_cte(con)},
        x AS (SELECT * FROM u WHERE registered AND in_scope AND region_code IN ({_in_list(region_code)})
              AND {cond})
        SELECT k.*, k.staff - k.quota AS diff, k.quota > 0 AND k.staff > k.quota AS over,
               k.quota = 0 AND k.staff > 0 AS mixed
        FROM ({_kind_rows("region_code, org_code, org_name")}) k
        WHERE k.quota > 0 OR k.staff > 0 ORDER BY region_code, org_code, est_kind"""
    return con.execute(sql, params).df()


def leader_posts(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                 rollup: bool = True) -> pd.DataFrame:
    """Per region × 领导职务层次: 核定职数, 实配 (distinct leaders per unit, summed), 超配数 and units over."""
    rows = " UNION ALL ".join(
        f"SELECT region_code, '{v}' AS leader_level, {i} AS pos, approved_{_LEVEL_KEY[v]} AS approved,"
        f" held_{_LEVEL_KEY[v]} AS held FROM u WHERE registered AND in_scope"
        for i, v in enumerate(LEADER_LEVELS))
    sql = f"""WITH {_regions_cte()}, {_units_cte(con)}, x0 AS ({rows}),
        x AS (SELECT region_code, leader_level, sum(approved) AS approved, sum(held) AS held,
                     sum(greatest(held - approved, 0)) AS over,
                     count(*) FILTER (WHERE held > approved) AS units_over
              FROM x0 GROUP BY region_code, leader_level),
        lv(leader_level, pos) AS (VALUES {", ".join(f"('{v}', {i})" for i, v in enumerate(LEADER_LEVELS))})
        SELECT r.region_code, r.name, r.level, r.parent_code, lv.leader_level,
               COALESCE(sum(x.approved), 0) AS approved, COALESCE(sum(x.held), 0) AS held,
               COALESCE(sum(x.over), 0) AS over,
               CAST(COALESCE(sum(x.units_over), 0) AS BIGINT) AS units_over
        FROM reg r CROSS JOIN lv
        {"LEFT JOIN anc a ON a.ancestor = r.region_code" if rollup else ""}
        LEFT JOIN x ON x.region_code = {"a.region_code" if rollup else "r.region_code"}
                    AND x.leader_level = lv.leader_level
        WHERE r.region_code IN ({_in_list(region_code)})
        GROUP BY r.region_code, r.name, r.level, r.parent_code, lv.leader_level, lv.pos ORDER BY lv.pos"""
    df = con.execute(sql).df()
    for c in ("approved", "held", "over"):
        df[c] = df[c].astype("int64")
    return _with_level_zh(_order_regions(df))


def leader_posts_by_unit(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                         org_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """Per registered in-scope unit × level with posts approved or held: 核定, 实配, 超配."""
    df = units(con, region_code, org_codes)
    df = df[df["registered"] & df["in_scope"]]
    parts = [
        df[["region_code", "org_code", "org_name"]].assign(
            leader_level=v, approved=df[f"approved_{_LEVEL_KEY[v]}"], held=df[f"held_{_LEVEL_KEY[v]}"])
        for v in LEADER_LEVELS
    ]
    out = pd.concat(parts, ignore_index=True)
    out = out[(out["approved"] > 0) | (out["held"] > 0)].copy()
    out["over"] = (out["held"] - out["approved"]).clip(lower=0)
    out["_o"] = out["leader_level"].map({v: i for i, v in enumerate(LEADER_LEVELS)})
    out = out.sort_values(["region_code", "org_code", "_o"], kind="stable").drop(columns="_o")
    return out.reset_index(drop=True)


def latest_pay_month(con: duckdb.DuckDBPyConnection) -> str | None:
    """The latest 发放月份 in the payroll table (None when no payroll is loaded)."""
    return con.execute("SELECT max(pay_month) FROM payroll").fetchone()[0]


_THREE_WAY = {
    "units": "count(x.org_code) FILTER (WHERE x.registered)",
    "quota": "sum(x.quota)",
    "staff": "sum(x.staff)",
    "paid": "sum(x.paid)",
    "offstaff": "sum(x.offstaff)",
}


def three_way(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
              rollup: bool = True) -> pd.DataFrame:
    """Per region: 编制数 (sum of quotas) vs 实有人数 (roster) vs 财政供养数 (paid in the latest month).

    In-scope units only; units missing from 机构 (registered False) count with quota 0, so their staff and
    pay show up as excess. ``balanced`` is True where the three numbers are equal.
    """
    df = _aggregate(con, f"WITH {_units_cte(con)} SELECT * FROM u WHERE in_scope", _THREE_WAY, region_code, rollup)
    df["staff_minus_quota"] = df["staff"] - df["quota"]
    df["paid_minus_quota"] = df["paid"] - df["quota"]
    df["paid_minus_staff"] = df["paid"] - df["staff"]
    df["balanced"] = (df["quota"] == df["staff"]) & (df["staff"] == df["paid"])
    df["pay_month"] = latest_pay_month(con)
    return df


def three_way_by_unit(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                      org_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """Per in-scope unit: 编制数, 实有人数, 财政供养数 (latest month), 编外人数 and the differences."""
    df = units(con, region_code, org_codes)
    df = df[df["in_scope"]]
    out = df[["region_code", "org_code", "org_name", "registered", "funding", "quota", "staff", "paid",
              "offstaff"]].copy()
    out["staff_minus_quota"] = out["staff"] - out["quota"]
    out["paid_minus_quota"] = out["paid"] - out["quota"]
    out["paid_minus_staff"] = out["paid"] - out["staff"]
    out["balanced"] = (out["quota"] == out["staff"]) & (out["staff"] == out["paid"])
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------------------------ findings
LATEST_RUN_SQL = ("(SELECT COALESCE((SELECT max(run_id) FROM finding_runs WHERE finished_at IS NOT NULL),"
                  " (SELECT max(run_id) FROM findings)))")


def latest_run_id(con: duckdb.DuckDBPyConnection) -> int | None:
    """The latest finished rule run (as rules.latest_run_id; falls back to the findings table's max run_id)."""
    return con.execute(f"SELECT {LATEST_RUN_SQL}").fetchone()[0]


def _findings_rel(region_code: str | None) -> str:
    """SQL: latest-run findings with ``region_code`` mapped to a known region, limited to the scope.

    The mapping is computed once per distinct raw code (a handful), then joined.
    """
    where = "" if region_code is None or region_code == regions.province_code() else \
        f"WHERE m.mapped IN ({_in_list(region_code)})"
    return f"""SELECT f.* REPLACE (m.mapped AS region_code), f.region_code AS region_code_raw
               FROM (SELECT * FROM findings WHERE run_id = {LATEST_RUN_SQL}) f
               JOIN (SELECT raw, {_map_region("raw")} AS mapped
                     FROM (SELECT DISTINCT region_code AS raw FROM findings WHERE run_id = {LATEST_RUN_SQL})) m
                 ON m.raw IS NOT DISTINCT FROM f.region_code
               {where}"""


def _severity_order(df: pd.DataFrame, col: str = "severity") -> pd.DataFrame:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return df.assign(_o=df[col].map(order)).sort_values("_o", kind="stable").drop(columns="_o")


def findings_by_rule(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """Per rule of the latest run: title, severity, findings, units and persons affected (most severe first)."""
    sql = f"""SELECT rule_id, any_value(title) AS title, any_value(severity) AS severity,
                     count(*) AS findings, count(DISTINCT org_code) AS units,
                     count(DISTINCT id_number) AS persons
              FROM ({_findings_rel(region_code)}) GROUP BY rule_id ORDER BY findings DESC, rule_id"""
    df = con.execute(sql).df()
    df = _severity_order(df).reset_index(drop=True)
    df.insert(3, "severity_zh", df["severity"].map(SEVERITY_ZH))
    return df


def findings_by_severity(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """One row per severity (all five, zeros included): findings of the latest run."""
    sql = f"""WITH sev(severity, pos) AS (VALUES {", ".join(f"('{s}', {i})" for i, s in enumerate(SEVERITIES))})
              SELECT sev.severity, count(f.rule_id) AS findings
              FROM sev LEFT JOIN ({_findings_rel(region_code)}) f ON f.severity = sev.severity
              GROUP BY sev.severity, sev.pos ORDER BY sev.pos"""
    df = con.execute(sql).df()
    df.insert(1, "severity_zh", df["severity"].map(SEVERITY_ZH))
    return df


def findings_by_rule_region(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """Long frame: (region_code, rule_id, severity) -> findings, with each finding at the region it sits in."""
    sql = f"""SELECT region_code, rule_id, any_value(title) AS title, severity, count(*) AS findings
              FROM ({_findings_rel(region_code)}) GROUP BY region_code, rule_id, severity"""
    df = con.execute(sql).df()
    df["name"] = df["region_code"].map(regions.name_of)
    return _order_regions(df)


def findings_by_region(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                       rollup: bool = True) -> pd.DataFrame:
    """Per region: findings of the latest run in total and per severity (``findings_<severity>``)."""
    metrics = {"findings": "count(x.rule_id)"}
    metrics |= {f"findings_{s}": f"count(x.rule_id) FILTER (WHERE x.severity = '{s}')" for s in SEVERITIES}
    return _aggregate(con, _findings_rel(None), metrics, region_code, rollup)


def findings_list(con: duckdb.DuckDBPyConnection, region_code: str | None = None, *, pii: str = "masked",
                  rules: Iterable[str] | None = None, severities: Iterable[str] | None = None,
                  org_code: str | None = None, org_codes: Iterable[str] | None = None,
                  id_number: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """The latest findings (DESIGN §5 columns + unit name); IDs masked unless ``pii='full'``.

    Optional filters: rule ids, severities, one unit or several, one person (full ID number).
    """
    if pii not in ("masked", "full"):
        raise ValueError("pii 只能是 masked 或 full")
    where, params = ["TRUE"], []
    if rules is not None:
        rules = list(rules)
        where.append(f"f.rule_id IN ({', '.join('?' for _ in rules) or 'NULL'})")
        params += rules
    if severities is not None:
        severities = list(severities)
        where.append(f"f.severity IN ({', '.join('?' for _ in severities) or 'NULL'})")
        params += severities
    if org_code is not None:
        where.append("f.org_code = ?")
        params.append(org_code)
    if org_codes is not None:
        cond, p = _org_filter(org_codes, "f.org_code")
        where.append(cond)
        params += p
    if id_number is not None:
        where.append("f.id_number = ?")
        params.append(id_number)
    idcol = "f.id_number" if pii == "full" else "wb_mask(f.id_number)"
    order = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES))
    sql = f"""SELECT f.rule_id, f.severity, f.region_code_raw AS region_code, f.org_code, {idcol} AS id_number,
                     f.item, f.title, f.detail, o.org_name
              FROM ({_findings_rel(region_code)}) f LEFT JOIN orgs o ON o.org_code = f.org_code
              WHERE {" AND ".join(where)}
              ORDER BY CASE f.severity {order} END, f.rule_id, f.region_code, f.org_code, f.id_number, f.item
              {f"LIMIT {int(limit)}" if limit is not None else ""}"""
    df = con.execute(sql, params).df()
    df.insert(2, "severity_zh", df["severity"].map(SEVERITY_ZH))
    return df


# ------------------------------------------------------------------------------------------ four clears
def rule_clears() -> dict[str, str]:
    """rule_id -> clear (机构清/编制清/领导职数清/实有人员清), from the rule registry."""
    from . import rules as _rules

    return {rid: rule.clear for rid, rule in _rules.REGISTRY.items()}


def clear_rules(clears: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rules behind each clear: clear, rule_id, title, severity (in contract.CLEARS order)."""
    clears = dict(clears) if clears is not None else rule_clears()
    try:
        from . import rules as _rules

        reg = _rules.REGISTRY
    except (ImportError, AttributeError):  # the catalogue not installed: titles fall back to the ids
        reg = {}
    df = pd.DataFrame({"clear": list(clears.values()), "rule_id": list(clears.keys())})
    df["title"] = df["rule_id"].map(lambda r: getattr(reg.get(r), "title_zh", r))
    df["severity"] = df["rule_id"].map(lambda r: getattr(reg.get(r), "severity", None))
    order = {c: i for i, c in enumerate(contract.CLEARS)}
    return df.sort_values(["clear", "rule_id"], key=lambda s: s.map(order) if s.name == "clear" else s,
                          kind="stable").reset_index(drop=True)


def rules_not_run(con: duckdb.DuckDBPyConnection, rule_ids: Iterable[str]) -> list[str]:
    """Rules of ``rule_ids`` the latest run did not run (absent from rule_status, or status not run)."""
    rule_ids = list(rule_ids)
    run = latest_run_id(con)
    if run is None:
        return rule_ids
    st = con.execute("SELECT rule_id, status FROM rule_status WHERE run_id = ?", [run]).df()
    if st.empty:  # a run recorded without statuses (hand-made workspaces): treat every rule as run
        return []
    from .rules.runner import RAN

    ran = set(st.loc[st["status"] == RAN, "rule_id"])
    return [r for r in rule_ids if r not in ran]


def four_clears(con: duckdb.DuckDBPyConnection, region_code: str | None = None, *,
                clears: Mapping[str, str] | None = None, rollup: bool = True) -> pd.DataFrame:
    """Per region × clear: the rules behind it, their findings (severity info excluded) and pass/fail.

    ``passed`` is True when every rule of the clear ran and none found anything in the region;
    ``status`` is 通过 / 未通过 / 未完全核查 (a rule of the clear was not run, and nothing was found).
    """
    clears = dict(clears) if clears is not None else rule_clears()
    not_run = set(rules_not_run(con, clears))
    pairs = ", ".join(f"('{r}', '{c}')" for r, c in clears.items()) or "(NULL, NULL)"
    names = list(contract.CLEARS)
    metrics = {f"c{i}": f"count(x.rule_id) FILTER (WHERE x.clear = '{c}' AND x.severity <> 'info')"
               for i, c in enumerate(names)}
    rel = f"""SELECT f.*, rc.clear FROM ({_findings_rel(None)}) f
              JOIN (VALUES {pairs}) rc(rule_id, clear) ON rc.rule_id = f.rule_id"""
    wide = _aggregate(con, rel, metrics, region_code, rollup)
    base = ["region_code", "name", "level", "level_zh", "parent_code"]
    long = wide.melt(id_vars=base, value_vars=list(metrics), var_name="_c", value_name="findings")
    long["clear"] = long["_c"].map({f"c{i}": c for i, c in enumerate(names)})
    by_clear = {c: sorted(r for r, cc in clears.items() if cc == c) for c in names}
    long["rules"] = long["clear"].map(lambda c: "、".join(by_clear[c]))
    long["not_run"] = long["clear"].map(lambda c: "、".join(r for r in by_clear[c] if r in not_run))
    long["findings"] = long["findings"].astype("int64")
    long["passed"] = (long["findings"] == 0) & (long["not_run"] == "")
    long["status"] = "通过"
    long.loc[(long["findings"] == 0) & (long["not_run"] != ""), "status"] = "未完全核查"
    long.loc[long["findings"] > 0, "status"] = "未通过"
    long = long.drop(columns="_c")
    order = {c: i for i, c in enumerate(names)}
    long = long.sort_values("clear", key=lambda s: s.map(order), kind="stable")
    return _order_regions(long)[[*base, "clear", "rules", "findings", "not_run", "passed", "status"]]


# ------------------------------------------------------------------------------------------ headline
HEADLINE_COLUMNS = ("region_code", "name", "level", "level_zh", "parent_code", "units", "units_out_of_scope",
                    "units_unregistered", "quota", "staff", "paid", "offstaff", "pay_month", "findings",
                    *(f"findings_{s}" for s in SEVERITIES), "clears_passed")


def headlines(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
              clears: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Headline numbers of the region and every region below it (rolled up), one row each — for the index
    page and the dashboards: units, out-of-scope and unregistered units, 核定编制, 实有人数, 财政供养人数,
    编外人数, latest pay month, findings in total and by severity, number of the four clears passed.

    Same numbers as :func:`institutions`, :func:`three_way`, :func:`findings_by_region`, :func:`four_clears`.
    """
    key = ["region_code", "name", "level", "level_zh", "parent_code"]
    inst = institutions(con, region_code)[[*key, "units", "units_out_of_scope", "units_unregistered"]]
    tw = three_way(con, region_code)[["region_code", "quota", "staff", "paid", "offstaff", "pay_month"]]
    fr = findings_by_region(con, region_code)[["region_code", "findings", *(f"findings_{s}" for s in SEVERITIES)]]
    out = inst.merge(tw, on="region_code").merge(fr, on="region_code")
    try:
        fc = four_clears(con, region_code, clears=clears)
        passed = fc.groupby("region_code")["passed"].sum().astype("int64")
        out["clears_passed"] = out["region_code"].map(passed)
    except (ImportError, AttributeError):  # no rule catalogue to tell which rule belongs to which clear
        out["clears_passed"] = pd.NA
    return out[list(HEADLINE_COLUMNS)]


def headline(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
             clears: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row of :func:`headlines`: the region itself (the province for None)."""
    return region_rows(headlines(con, region_code, clears), region_code)


# ------------------------------------------------------------------------------------------ roll-up check
ROLLUP_METRICS: dict[str, str] = {
    "units": "机构数", "units_out_of_scope": "不纳入核查机构数", "approved_units": "核定内设机构数",
    "actual_units": "实有内设机构数", "quota": "核定编制数", "staff": "实有人数", "paid": "财政供养人数",
    "findings": "问题数",
}


def rollup_check(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """For each parent region in scope and each metric: parent total vs own units + Σ children totals.

    Columns parent_code, name, level, metric, metric_zh, parent_value, own_value, children_sum, expected, ok.
    """
    def frame(rollup: bool) -> pd.DataFrame:
        a = institutions(con, None, rollup)[["region_code", "units", "units_out_of_scope", "approved_units",
                                             "actual_units"]]
        b = three_way(con, None, rollup)[["region_code", "quota", "staff", "paid"]]
        c = findings_by_region(con, None, rollup)[["region_code", "findings"]]
        return a.merge(b, on="region_code").merge(c, on="region_code").set_index("region_code")

    total, own = frame(True), frame(False)
    r = regions.regions().set_index("region_code")
    child_sum = total.join(r["parent_code"]).groupby("parent_code")[list(ROLLUP_METRICS)].sum()
    parents = [c for c in scope_codes(region_code) if c in child_sum.index]
    metrics = list(ROLLUP_METRICS)
    out = pd.DataFrame({
        "parent_code": pd.Index(parents).repeat(len(metrics)),
        "metric": metrics * len(parents),
    })
    out["name"] = out["parent_code"].map(r["name"])
    out["level"] = out["parent_code"].map(r["level"])
    out["metric_zh"] = out["metric"].map(ROLLUP_METRICS)
    stack = lambda df: df.loc[parents, metrics].stack().to_numpy()  # noqa: E731
    out["parent_value"] = stack(total)
    out["own_value"] = stack(own)
    out["children_sum"] = stack(child_sum)
    out["expected"] = out["own_value"] + out["children_sum"]
    out["ok"] = out["parent_value"] == out["expected"]
    return out[["parent_code", "name", "level", "metric", "metric_zh", "parent_value", "own_value",
                "children_sum", "expected", "ok"]]


# ------------------------------------------------------------------------------------------ data quality
_COVERAGE_SOURCES = ("police", "payroll", "hr", "orgdept")


def source_coverage(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """Per contract sheet: loaded?, files, rows (in the region), and the share of the region's roster ids
    (in-scope units) present in 公安核查 / 财政发放 (latest month) / 人社信息 / 组织部门 (leaders only)."""
    whole = region_code is None or region_code == regions.province_code()
    in_list = _in_list(region_code)
    parts = []
    for sheet in contract.SHEETS:
        t = sheet.table
        if whole:
            rows = "count(*)"
        elif t == "police":
            rows = "count(*) FILTER (WHERE id_number IN (SELECT id_number FROM roster))"
        elif "org_code" in sheet.names:
            rows = "count(*) FILTER (WHERE org_code IN (SELECT org_code FROM units_in))"
        else:
            rows = "count(*)"
        parts.append(f"""SELECT {len(parts)} AS pos, '{sheet.name}' AS sheet, '{t}' AS "table",
                         count(*) > 0 AS loaded, count(DISTINCT _file) AS files, {rows} AS rows FROM "{t}" """)
    flags = ", ".join(
        f"count(*) FILTER (WHERE {'leader AND ' if t == 'orgdept' else ''}id_number IN (SELECT id_number FROM"
        f" {'payroll WHERE pay_month = (SELECT m FROM pm)' if t == 'payroll' else t})) AS c_{t}"
        for t in _COVERAGE_SOURCES)
    sql = f"""WITH {_units_cte(con)},
              units_in AS (SELECT org_code FROM u WHERE region_code IN ({in_list})),
              roster AS MATERIALIZED (
                  SELECT s.id_number, bool_or(s.leader_level IN ('正职', '副职')) AS leader
                  FROM staff s JOIN u ON u.org_code = s.org_code
                  WHERE u.in_scope AND u.region_code IN ({in_list}) GROUP BY s.id_number),
              cov AS (SELECT count(*) AS n, count(*) FILTER (WHERE leader) AS n_leader, {flags} FROM roster),
              t AS ({" UNION ALL ".join(parts)})
              SELECT t.sheet, t."table", t.loaded, t.files, t.rows,
                     CASE WHEN t."table" = 'orgdept' THEN cov.n_leader
                          WHEN t."table" IN ({", ".join(f"'{x}'" for x in _COVERAGE_SOURCES)}) THEN cov.n
                     END AS roster_ids,
                     CASE t."table" {" ".join(f"WHEN '{x}' THEN cov.c_{x}" for x in _COVERAGE_SOURCES)} END
                         AS roster_covered
              FROM t, cov ORDER BY t.pos"""
    df = con.execute(sql).df()
    df["coverage"] = df["roster_covered"] / df["roster_ids"].where(df["roster_ids"] > 0)
    return df


def rows_by_region(con: duckdb.DuckDBPyConnection, region_code: str | None = None,
                   rollup: bool = True) -> pd.DataFrame:
    """Per region: rows of each unit-keyed sheet (机构, 人员, 编外人员, 财政发放 all months, 人社信息, 组织部门),
    attributed to the region of the unit (payroll: the paying unit)."""
    tables = [s for s in contract.SHEETS if "org_code" in s.names and s.table not in ("stats2013", "onsite_results")]
    rel = " UNION ALL ".join(f"SELECT '{s.table}' AS t, org_code FROM \"{s.table}\"" for s in tables)
    metrics = {s.table: f"count(x.t) FILTER (WHERE x.t = '{s.table}')" for s in tables}
    select = f"""WITH {_units_cte(con)}, src AS ({rel})
                 SELECT src.t, u.region_code FROM src JOIN u ON u.org_code = src.org_code"""
    return _aggregate(con, select, metrics, region_code, rollup)


def rejects_summary(con: duckdb.DuckDBPyConnection, region_code: str | None = None) -> pd.DataFrame:
    """Rejected rows by sheet, column, reason and region (a reject without a region sits at the province)."""
    sql = f"""SELECT sheet, "column", reason, {_map_region("region_code")} AS region_code, count(*) AS rejects
              FROM rejects WHERE {_map_region("region_code")} IN ({_in_list(region_code)})
              GROUP BY ALL ORDER BY rejects DESC, sheet, "column", reason, region_code"""
    df = con.execute(sql).df()
    df["name"] = df["region_code"].map(regions.name_of)
    return df


def loads_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The load log: file, sheet, rows read / loaded / rejected, status, time (latest first)."""
    return con.execute("""SELECT file, sheet, "table", rows_read, rows_loaded, rows_rejected, status, message,
                                 loaded_at, sha256 FROM loads ORDER BY loaded_at DESC, file, sheet""").df()


# ------------------------------------------------------------------------------------------ persons
PERSON_SOURCES = ("staff", "offstaff", "payroll", "police", "hr", "orgdept")


def person_records(con: duckdb.DuckDBPyConnection, id_number: str, pii: str = "masked") -> pd.DataFrame:
    """Every record of one ID number across 人员, 编外人员, 财政发放, 公安核查, 人社信息, 组织部门 (one row
    each: sheet, name, unit, what the record says, file and row). ID and pay account masked unless pii='full'."""
    if pii not in ("masked", "full"):
        raise ValueError("pii 只能是 masked 或 full")
    idcol = "id_number" if pii == "full" else "wb_mask(id_number)"
    acct = "account" if pii == "full" else "wb_mask(account)"
    org = "org_code"
    parts = {
        "staff": f"{org}, concat_ws('；', est_kind, staff_class, post, '领导职务层次：' || leader_level,"
                 " '出生日期：' || birth_date, '性别：' || sex, '进入本单位：' || entry_date)",
        "offstaff": f"{org}, concat_ws('；', employment_form, '经费来源：' || funding_source,"
                    " '起始日期：' || start_date)",
        "payroll": f"{org}, concat_ws('；', '发放月份：' || pay_month, '应发金额：' || amount,"
                   f" '工资账号：' || {acct})",
        "police": "NULL, '核查结果：' || police_result",
        "hr": f"{org}, '人员身份：' || hr_status",
        "orgdept": f"{org}, '领导职务层次：' || leader_level",
    }
    union = " UNION ALL ".join(
        f"SELECT {i} AS pos, '{contract.BY_TABLE[t].name}' AS sheet, {idcol} AS id_number, name, {cols},"
        f" _file AS file, _row AS \"row\" FROM \"{t}\" WHERE id_number = $id"
        for i, (t, cols) in enumerate(parts.items()))
    sql = f"""SELECT r.sheet, r.id_number, r.name, r.org_code, o.org_name, r.detail, r.file, r."row"
              FROM ({union}) r(pos, sheet, id_number, name, org_code, detail, file, "row")
              LEFT JOIN orgs o ON o.org_code = r.org_code ORDER BY r.pos, r.org_code, r.detail"""
    return con.execute(sql, {"id": id_number}).df()


def unit_persons(con: duckdb.DuckDBPyConnection, org_code: str, pii: str = "masked") -> pd.DataFrame:
    """The 人员 rows of one unit with their findings count (latest run); IDs masked unless pii='full'."""
    if pii not in ("masked", "full"):
        raise ValueError("pii 只能是 masked 或 full")
    idcol = "s.id_number" if pii == "full" else "wb_mask(s.id_number)"
    sql = f"""SELECT {idcol} AS id_number, s.name, s.sex, s.birth_date, s.est_kind, s.staff_class, s.post,
                     s.leader_level, s.entry_date,
                     (SELECT count(*) FROM findings f WHERE f.run_id = {LATEST_RUN_SQL}
                        AND f.id_number = s.id_number AND f.org_code = s.org_code) AS findings
              FROM staff s WHERE s.org_code = ? ORDER BY s.est_kind, s.name, s.id_number"""
    return con.execute(sql, [org_code]).df()
