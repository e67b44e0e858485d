"""Per-run base tables (TEMP): every source read once, so the rules never rescan expensive expressions.

The sources come normalised and keyed (``derived.complete`` runs first): IDs and codes as intake leaves them,
``_idk`` an integer key per ID (joins and grouping compare integers, not 18-character text) and ``_idb`` the
birth date of a structurally valid ID. ``wb_person`` holds every 人员 row with its ID, key and unit, the ID's
validity, birth date, sex and age at as_of, whether the unit is in 机构 (and its integer key ``ok``), its region
(or the USCC fallback) and an out-of-scope flag; ``wb_staff`` is the view the person rules read (out-of-scope
units' rows and rows without an ID left out). ``wb_pay`` holds the latest 发放月份 only, without rows paid by
out-of-scope units.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from .. import contract, derived, retirement

MACROS = f"""{derived.MACROS}
{retirement.AGE_MONTHS_MACRO}
"""

_OOS = contract.OUT_OF_SCOPE_PSI
_QUOTAS = ", ".join(f"COALESCE({c}, 0) AS {c}" for c in contract.EST_KINDS.values())
_LEADERS = ", ".join(f"COALESCE({c}, 0) AS {c}" for c in contract.LEADER_LEVELS.values())
_QUOTA_UNION = " UNION ALL ".join(
    f"SELECT org, ok, region_code, '{k}' AS kind, {c} AS quota FROM wb_org WHERE NOT out_of_scope"
    for k, c in contract.EST_KINDS.items()
)
_POLICE_FLAGS = ", ".join(f"'{r}'" for r in contract.POLICE_MISMATCH + contract.POLICE_DECEASED)
_FALLBACK = "CASE WHEN wb_uscc_valid({0}) THEN substr({0}, 3, 6) END"
_VALID = "COALESCE(s._idb <= :as_of, FALSE)"  # = wb_id_valid(id, as_of), from the columns derived at load

#: name -> (base tables it needs first, SQL creating it).
BASE: dict[str, tuple[tuple[str, ...], str]] = {
    "wb_org": ((), f"""
        CREATE OR REPLACE TEMP TABLE wb_org AS
        SELECT *, CAST(row_number() OVER () AS INTEGER) AS ok FROM (  -- ok: an integer key for grouping and joins
        SELECT wb_norm(org_code) AS org, wb_blank(region_code) AS region_code, wb_blank(approval_doc) AS approval_doc,
               wb_blank(funding) AS funding, COALESCE(approved_units, 0) AS approved_units,
               COALESCE(actual_units, 0) AS actual_units, {_QUOTAS}, {_LEADERS},
               COALESCE(wb_blank(psi_class) = '{_OOS}', FALSE) AS out_of_scope
        FROM orgs WHERE wb_norm(org_code) IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY wb_norm(org_code) ORDER BY _load_id NULLS LAST, _row NULLS LAST) = 1)"""),
    "wb_quota": (("wb_org",), f"CREATE OR REPLACE TEMP TABLE wb_quota AS {_QUOTA_UNION}"),
    "wb_person": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_person AS
        SELECT s.id_number AS id, s._idk AS k, s.org_code AS org, s.sex, s.birth_date, s.est_kind,
               COALESCE(s.staff_class = '{contract.WORKER_CLASS}', FALSE) AS worker,
               COALESCE(s.leader_level, '{contract.NO_LEADER}') AS level, {_VALID} AS valid,
               CASE WHEN {_VALID} THEN s._idb END AS id_birth,
               CASE WHEN NOT {_VALID} THEN NULL WHEN s._idk // 11 % 2 = 1 THEN '男' ELSE '女' END AS id_sex,  -- = wb_id_sex
               CASE WHEN {_VALID} THEN wb_age(s._idb, :as_of) END AS age,
               o.org IS NOT NULL AS known, o.ok, COALESCE(o.out_of_scope, FALSE) AS oos,
               -- the worker class and full funding as booleans, not strings: cheaper to store
               COALESCE(o.funding = '{contract.FULL_FUNDING}', FALSE) AS full_funded,
               CASE WHEN o.org IS NOT NULL THEN o.region_code ELSE {_FALLBACK.format('s.org_code')} END AS region_code
        FROM staff s LEFT JOIN wb_org o ON o.org = s.org_code"""),
    "wb_staff": (("wb_person",), """
        CREATE OR REPLACE TEMP VIEW wb_staff AS SELECT * FROM wb_person WHERE NOT oos AND k IS NOT NULL"""),
    "wb_multi": (("wb_staff",), """
        CREATE OR REPLACE TEMP TABLE wb_multi AS
        WITH m AS (SELECT k FROM wb_staff GROUP BY k HAVING count(*) > 1)
        SELECT p.k, count(*) AS n, count(DISTINCT p.org) AS units FROM wb_staff p SEMI JOIN m ON m.k = p.k
        GROUP BY p.k"""),
    "wb_pay": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_pay AS
        SELECT p.id_number AS id, p._idk AS k, p.org_code AS org, p.account, o.org IS NOT NULL AS known, o.ok,
               CASE WHEN o.org IS NOT NULL THEN o.region_code ELSE {_FALLBACK.format('p.org_code')} END AS region_code
        FROM payroll p LEFT JOIN wb_org o ON o.org = p.org_code
        WHERE p.pay_month = :pay_month AND p._idk IS NOT NULL AND NOT COALESCE(o.out_of_scope, FALSE)"""),
    "wb_off": ((), """
        CREATE OR REPLACE TEMP TABLE wb_off AS SELECT _idk AS k, org_code AS org FROM offstaff WHERE _idk IS NOT NULL"""),
    "wb_police": ((), f"""
        CREATE OR REPLACE TEMP TABLE wb_police AS
        SELECT _idk AS k, police_result AS result FROM police
        WHERE police_result IN ({_POLICE_FLAGS}) AND _idk IS NOT NULL"""),
    "wb_hr": ((), """
        CREATE OR REPLACE TEMP TABLE wb_hr AS SELECT _idk AS k FROM hr WHERE _idk IS NOT NULL"""),
    "wb_orgdept": ((), """
        CREATE OR REPLACE TEMP TABLE wb_orgdept AS
        SELECT _idk AS k, org_code AS org, leader_level AS level FROM orgdept WHERE _idk IS NOT NULL"""),
    "wb_stats": ((), """
        CREATE OR REPLACE TEMP TABLE wb_stats AS
        SELECT wb_norm(org_code) AS org, wb_blank(est_kind) AS kind, quota FROM stats2013"""),
    "wb_retire": ((), ""),  # filled from retirement.cohort_table(as_of)
}


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the helper macros on this connection."""
    con.execute(MACROS)


def latest_pay_month(con: duckdb.DuckDBPyConnection) -> str | None:
    """The latest 发放月份 in the payroll table (None when empty)."""
    return con.execute("SELECT max(pay_month) FROM payroll").fetchall()[0][0]


def literal(value) -> str:
    """A SQL literal for a date / string / None."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def bind(sql: str, params: dict[str, object]) -> str:
    """Substitute ``:name`` placeholders with literals (longest names first)."""
    for name in sorted(params, key=len, reverse=True):
        sql = sql.replace(f":{name}", literal(params[name]))
    return sql


def order(names) -> list[str]:
    """The base tables needed for ``names``, dependencies first."""
    out: list[str] = []

    def visit(n: str) -> None:
        for d in BASE[n][0]:
            visit(d)
        if n not in out:
            out.append(n)

    for n in sorted(names):
        visit(n)
    return out


def build(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, object]) -> None:
    """Create one base table."""
    if name == "wb_retire":
        con.register("wb_retire_in", retirement.cohort_table(params["as_of"]))
        con.execute("CREATE OR REPLACE TEMP TABLE wb_retire AS SELECT grp, CAST(birth_month AS DATE) AS birth_month,"
                    " CAST(retire_months AS INTEGER) AS retire_months FROM wb_retire_in")
        con.unregister("wb_retire_in")
        return
    con.execute(bind(BASE[name][1], params))


def drop_all(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every base table / view of the run."""
    for name in BASE:
        con.execute(f"DROP {'VIEW' if name == 'wb_staff' else 'TABLE'} IF EXISTS {name}")
