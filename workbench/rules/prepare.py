"""Per-run base tables (TEMP): every source normalised once, so the rules never rescan expensive expressions.

``wb_person`` holds every 人员 row with its normalised ID and unit, the ID's validity, birth date, sex and
age at as_of, whether the unit is in 机构, its region (or the USCC fallback) and an out-of-scope flag;
``wb_staff`` is the view the person rules read (out-of-scope units' rows left out). ``wb_pay`` holds the
latest 发放月份 only, without rows paid by out-of-scope units.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from .. import contract, ids, retirement

_FULL = ("\u3000\u00a0\r\n" + "".join(chr(c) for c in range(0xFF01, 0xFF5F))).replace("'", "''")
_HALF = ("    " + "".join(chr(c) for c in range(0x21, 0x7F))).replace("'", "''")

#: Normalisation used for every ID number and unit code compared by the rules (DESIGN §3/§4):
#: full-width -> half-width, all blanks removed, upper case; empty -> NULL.
MACROS = f"""
CREATE OR REPLACE TEMP MACRO wb_norm(s) AS
    CASE WHEN strlen(s) = length(s) AND NOT contains(s, ' ') AND NOT contains(s, chr(9)) THEN NULLIF(upper(s), '')
         ELSE NULLIF(upper(replace(replace(translate(s, '{_FULL}', '{_HALF}'), ' ', ''), chr(9), '')), '') END;
CREATE OR REPLACE TEMP MACRO wb_blank(s) AS NULLIF(trim(CAST(s AS VARCHAR)), '');
CREATE OR REPLACE TEMP MACRO wb_code(s) AS CASE WHEN contains(s, ' ') THEN NULLIF(trim(s), '') ELSE NULLIF(s, '') END;
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
_ID_PATTERN = "[0-9]{17}[0-9X]"
# wb_id_check_ok / the province test of ids.py on n = the 17-digit prefix as BIGINT (parsed once per row):
# the digits by integer arithmetic instead of 17 substr/casts — same ISO 7064 MOD 11-2 sum.
_CHECK_SUM = " + ".join(f"((n // {10 ** (16 - i)}) % 10) * {w}" for i, w in enumerate(ids.ID_WEIGHTS))
_CHECK_OK = f"substr(id, 18, 1) = substr('{ids.ID_CHECK}', (({_CHECK_SUM}) % 11) + 1, 1)"
_PROVINCE_OK = f"n // {10 ** 15} IN ({', '.join(str(p) for p in ids.PROVINCE_CODES)})"

#: name -> (base tables it needs first, SQL creating it). Rows without an ID number are deleted after the
#: table is built rather than filtered in its SELECT: DuckDB pushes ``WHERE id IS NOT NULL`` below the
#: projection and would normalise every ID twice.
BASE: dict[str, tuple[tuple[str, ...], str]] = {
    "wb_org": ((), f"""
        CREATE OR REPLACE TEMP TABLE wb_org AS
        SELECT *, CAST(row_number() OVER () AS INTEGER) AS ok FROM (  -- ok: an integer key for grouping and joins
        SELECT wb_norm(org_code) AS org, org_name, wb_blank(region_code) AS region_code, wb_blank(approval_doc) AS approval_doc,
               wb_blank(funding) AS funding, COALESCE(approved_units, 0) AS approved_units,
               COALESCE(actual_units, 0) AS actual_units, {_QUOTAS}, {_LEADERS},
               COALESCE(wb_blank(psi_class) = '{_OOS}', FALSE) AS out_of_scope
        FROM orgs WHERE wb_norm(org_code) IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY wb_norm(org_code) ORDER BY _load_id NULLS LAST, _row NULLS LAST) = 1)"""),
    "wb_quota": (("wb_org",), f"CREATE OR REPLACE TEMP TABLE wb_quota AS {_QUOTA_UNION}"),
    "wb_person": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_person AS
        WITH s AS (
            SELECT wb_norm(id_number) AS id, wb_norm(org_code) AS org, wb_code(sex) AS sex, birth_date,
                   wb_code(est_kind) AS est_kind, COALESCE(wb_code(staff_class) = '{contract.WORKER_CLASS}', FALSE) AS worker,
                   COALESCE(wb_code(leader_level), '{contract.NO_LEADER}') AS level
            FROM staff),
        f AS (SELECT *, regexp_full_match(id, '{_ID_PATTERN}') AS fmt FROM s),
        n AS (SELECT * EXCLUDE (fmt), CASE WHEN fmt THEN CAST(substr(id, 1, 17) AS BIGINT) END AS n,
                     CASE WHEN fmt THEN TRY_CAST(try_strptime(substr(id, 7, 8), '%Y%m%d') AS DATE) END AS b0  -- = wb_id_birth
              FROM f),
        v AS (
            SELECT * EXCLUDE (n), COALESCE(b0 >= DATE '{ids.MIN_BIRTH}' AND b0 <= :as_of AND {_PROVINCE_OK}
                                           AND {_CHECK_OK}, FALSE) AS valid,  -- = wb_id_valid(id, as_of)
                   n % 2 = 1 AS odd
            FROM n)
        SELECT v.* EXCLUDE (b0, odd),
               CASE WHEN valid THEN b0 END AS id_birth,
               CASE WHEN NOT valid THEN NULL WHEN odd THEN '男' ELSE '女' END AS id_sex,  -- = wb_id_sex
               -- the worker class and full funding as booleans, not strings: cheaper to store
               CASE WHEN valid THEN wb_age(b0, :as_of) END AS age,
               o.org IS NOT NULL AS known, o.ok, COALESCE(o.out_of_scope, FALSE) AS oos,
               COALESCE(o.funding = '{contract.FULL_FUNDING}', FALSE) AS full_funded,
               CASE WHEN o.org IS NOT NULL THEN o.region_code ELSE {_FALLBACK.format('v.org')} END AS region_code
        FROM v LEFT JOIN wb_org o ON o.org = v.org"""),
    "wb_staff": (("wb_person",), """
        CREATE OR REPLACE TEMP VIEW wb_staff AS SELECT * FROM wb_person WHERE NOT oos AND id IS NOT NULL"""),
    "wb_multi": (("wb_staff",), """
        CREATE OR REPLACE TEMP TABLE wb_multi AS
        WITH m AS (SELECT id FROM wb_staff GROUP BY id HAVING count(*) > 1)
        SELECT p.id, count(*) AS n, count(DISTINCT p.org) AS units FROM wb_staff p SEMI JOIN m ON m.id = p.id
        GROUP BY p.id"""),
    "wb_pay": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_pay AS
        WITH p AS (
            SELECT wb_norm(id_number) AS id, wb_norm(org_code) AS org, wb_code(account) AS account
            FROM payroll WHERE pay_month = :pay_month)
        SELECT p.id, p.org, p.account, o.org IS NOT NULL AS known, o.ok,
               CASE WHEN o.org IS NOT NULL THEN o.region_code ELSE {_FALLBACK.format('p.org')} END AS region_code
        FROM p LEFT JOIN wb_org o ON o.org = p.org
        WHERE NOT COALESCE(o.out_of_scope, FALSE);
        DELETE FROM wb_pay WHERE id IS NULL"""),
    "wb_off": ((), """
        CREATE OR REPLACE TEMP TABLE wb_off AS
        SELECT wb_norm(id_number) AS id, wb_norm(org_code) AS org FROM offstaff;
        DELETE FROM wb_off WHERE id IS NULL"""),
    "wb_police": ((), f"""
        CREATE OR REPLACE TEMP TABLE wb_police AS
        WITH k AS (SELECT wb_norm(id_number) AS id, wb_code(police_result) AS result FROM police
                   WHERE wb_code(police_result) IN ({_POLICE_FLAGS}))
        SELECT id, result FROM k;
        DELETE FROM wb_police WHERE id IS NULL"""),
    "wb_hr": ((), """
        CREATE OR REPLACE TEMP TABLE wb_hr AS
        SELECT wb_norm(id_number) AS id FROM hr;
        DELETE FROM wb_hr WHERE id IS NULL"""),
    "wb_orgdept": ((), """
        CREATE OR REPLACE TEMP TABLE wb_orgdept AS
        WITH d AS (
            SELECT wb_norm(id_number) AS id, wb_norm(org_code) AS org, wb_blank(leader_level) AS level FROM orgdept)
        SELECT id, org, level FROM d;
        DELETE FROM wb_orgdept WHERE id IS NULL"""),
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
    con.execute("DROP TABLE IF EXISTS wb_found")
