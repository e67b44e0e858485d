"""Per-run base tables (TEMP): every source read once, so the rules never rescan expensive expressions.

The sources come normalised and keyed (``derived.complete`` runs first): IDs and codes as intake leaves them,
``_idk`` an integer key per ID and ``_idb`` the birth date of a structurally valid ID. The base tables hold
integers, booleans and dates, hardly any text: a string column costs a temp table ≈ 8 ms per 500,000 rows to
store, an integer ≈ 1 ms. Persons are keyed by ``k`` (the ID key; its text is decoded when a finding is stored:
:data:`ID_TEXT`), units by ``uk``: the unit's ``ok`` in ``wb_org`` (its rowid in 机构) for a registered code, a
negative 62-bit hash of the code for an unregistered one (``wb_unit_key``); ``wb_units`` maps ``uk`` back to the
code and region. Kinds of establishment and leader levels are positions in the contract's code lists
(``wb_kind`` / ``wb_level`` turn them back into text); 工资账号 are compared by ``hash(account)``. Only two
unregistered codes or two accounts sharing a hash could be merged (probability < 10⁻⁸ at a province's scale,
as for malformed IDs, see :mod:`workbench.derived`).

``wb_person`` holds every 人员 row with its ID key, unit key, kind, level, the ID's validity, birth date, sex
and age at as_of, whether the unit is in 机构 and an out-of-scope flag; ``wb_staff`` is the view the person rules
read (out-of-scope units' rows and rows without an ID left out). ``wb_pay`` holds the latest 发放月份 only,
without rows paid by out-of-scope units.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from .. import contract, derived, retirement

_KINDS = list(contract.EST_KINDS)
_LEVELS = list(contract.LEADER_LEVELS)
_FALLBACK = "CASE WHEN wb_uscc_valid({0}) THEN substr({0}, 3, 6) END"  # region of an unregistered code

MACROS = f"""{derived.MACROS}
{retirement.AGE_MONTHS_MACRO}
CREATE OR REPLACE TEMP MACRO wb_unit_key(ok, code) AS
    CASE WHEN ok IS NOT NULL THEN ok WHEN code IS NOT NULL THEN -1 - CAST(hash(code) >> 2 AS BIGINT) END;
CREATE OR REPLACE TEMP MACRO wb_sex(male) AS CASE male WHEN TRUE THEN '{contract.SEXES[0]}' WHEN FALSE THEN '{contract.SEXES[1]}' END;
CREATE OR REPLACE TEMP MACRO wb_kind(i) AS ({_KINDS})[i];
CREATE OR REPLACE TEMP MACRO wb_level(i) AS ({_LEVELS})[i];
CREATE OR REPLACE TEMP MACRO wb_id_text(k) AS  -- the 17 digits (leading zeros kept: 10^17 added, then cut) + check
    CASE WHEN k % 11 = 10 THEN substr(CAST(k // 11 + 100000000000000000 AS VARCHAR), 2) || 'X'
         ELSE substr(CAST(k // 11 * 10 + k % 11 + 1000000000000000000 AS VARCHAR), 2) END;
"""

#: The ID text of a finding's key: decoded from a well-formed ID's key, looked up for a malformed one.
ID_TEXT = "CASE WHEN {0}.k >= 0 THEN wb_id_text({0}.k) ELSE {1}.id END"

_OOS = contract.OUT_OF_SCOPE_PSI
_QUOTAS = ", ".join(f"COALESCE({c}, 0) AS {c}" for c in contract.EST_KINDS.values())
_LEADERS = ", ".join(f"COALESCE({c}, 0) AS {c}" for c in contract.LEADER_LEVELS.values())
_POLICE_FLAGS = ", ".join(f"'{r}'" for r in contract.POLICE_MISMATCH + contract.POLICE_DECEASED)
_VALID = "COALESCE(s._idb <= :as_of, FALSE)"  # = wb_id_valid(id, as_of), from the columns derived at load
_MALE = "s._idk // 11 % 2 = 1"  # the 17th digit odd (wb_id_sex)
#: The tables whose unregistered unit codes wb_units maps (with the code column they keep for it).
UNIT_TABLES = ("wb_person", "wb_pay", "wb_off")

#: name -> (base tables it needs first, SQL creating it).
BASE: dict[str, tuple[tuple[str, ...], str]] = {
    "wb_org": ((), f"""
        CREATE OR REPLACE TEMP TABLE wb_org AS
        WITH pick AS (  -- one row per normalised code: the first loaded (then its rowid, the integer key ok)
            SELECT arg_min(rowid, (COALESCE(_load_id, 9223372036854775807), COALESCE(_row, 9223372036854775807),
                                   rowid)) AS ok
            FROM orgs WHERE wb_norm(org_code) IS NOT NULL GROUP BY wb_norm(org_code))
        SELECT rowid AS ok, wb_norm(org_code) AS org, wb_blank(region_code) AS region_code,
               wb_blank(approval_doc) AS approval_doc, wb_blank(funding) AS funding,
               COALESCE(approved_units, 0) AS approved_units, COALESCE(actual_units, 0) AS actual_units,
               {_QUOTAS}, {_LEADERS}, COALESCE(wb_blank(psi_class) = '{_OOS}', FALSE) AS out_of_scope
        FROM orgs WHERE rowid IN (SELECT ok FROM pick)"""),
    "wb_quota": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_quota AS  -- kind: position in contract.EST_KINDS (wb_kind)
        SELECT ok, unnest(range(1, {len(_KINDS) + 1})) AS kind,
               unnest([{', '.join(contract.EST_KINDS.values())}]) AS quota
        FROM wb_org WHERE NOT out_of_scope"""),
    "wb_person": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_person AS
        SELECT s._idk AS k, wb_unit_key(o.ok, s.org_code) AS uk, CASE WHEN o.ok IS NULL THEN s.org_code END AS uorg,
               list_position({_KINDS}, s.est_kind) AS kind, list_position({_LEVELS}, s.leader_level) AS lv,
               COALESCE(s.staff_class = '{contract.WORKER_CLASS}', FALSE) AS worker, {_VALID} AS valid,
               CASE WHEN {_VALID} THEN s._idb END AS id_birth, CASE WHEN {_VALID} THEN {_MALE} END AS male,
               CASE WHEN {_VALID} THEN wb_age(s._idb, :as_of) END AS age, s.birth_date,
               CASE WHEN {_VALID} AND s.sex <> wb_sex({_MALE}) THEN s.sex END AS bad_sex,  -- differing from the ID's
               o.ok IS NOT NULL AS known, COALESCE(o.out_of_scope, FALSE) AS oos,
               COALESCE(o.funding = '{contract.FULL_FUNDING}', FALSE) AS full_funded
        FROM staff s LEFT JOIN wb_org o ON o.org = s.org_code"""),
    "wb_staff": (("wb_person",), """
        CREATE OR REPLACE TEMP VIEW wb_staff AS SELECT * FROM wb_person WHERE NOT oos AND k IS NOT NULL"""),
    "wb_multi": (("wb_staff",), """
        CREATE OR REPLACE TEMP TABLE wb_multi AS
        WITH m AS (SELECT k FROM wb_staff GROUP BY k HAVING count(*) > 1)
        SELECT p.k, count(*) AS n, count(DISTINCT p.uk) AS units FROM wb_staff p SEMI JOIN m ON m.k = p.k
        GROUP BY p.k"""),
    "wb_pay": (("wb_org",), """
        CREATE OR REPLACE TEMP TABLE wb_pay AS  -- acc: a key of the account (hash), r: the payroll rowid
        SELECT p._idk AS k, wb_unit_key(o.ok, p.org_code) AS uk, CASE WHEN o.ok IS NULL THEN p.org_code END AS uorg,
               o.ok IS NOT NULL AS known, CASE WHEN p.account IS NOT NULL THEN hash(p.account) END AS acc,
               p.rowid AS r
        FROM payroll p LEFT JOIN wb_org o ON o.org = p.org_code
        WHERE p.pay_month = :pay_month AND p._idk IS NOT NULL AND NOT COALESCE(o.out_of_scope, FALSE)"""),
    "wb_off": (("wb_org",), """
        CREATE OR REPLACE TEMP TABLE wb_off AS
        SELECT f._idk AS k, wb_unit_key(o.ok, f.org_code) AS uk, CASE WHEN o.ok IS NULL THEN f.org_code END AS uorg,
               o.ok IS NOT NULL AS known
        FROM offstaff f LEFT JOIN wb_org o ON o.org = f.org_code WHERE f._idk IS NOT NULL"""),
    "wb_police": ((), f"""
        CREATE OR REPLACE TEMP TABLE wb_police AS
        SELECT _idk AS k, police_result AS result FROM police
        WHERE police_result IN ({_POLICE_FLAGS}) AND _idk IS NOT NULL"""),
    "wb_hr": ((), """
        CREATE OR REPLACE TEMP TABLE wb_hr AS SELECT _idk AS k FROM hr WHERE _idk IS NOT NULL"""),
    "wb_orgdept": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_orgdept AS
        SELECT d._idk AS k, wb_unit_key(o.ok, d.org_code) AS uk, list_position({_LEVELS}, d.leader_level) AS lv
        FROM orgdept d LEFT JOIN wb_org o ON o.org = d.org_code WHERE d._idk IS NOT NULL"""),
    "wb_stats": (("wb_org",), f"""
        CREATE OR REPLACE TEMP TABLE wb_stats AS
        SELECT o.ok, list_position({_KINDS}, wb_blank(s.est_kind)) AS kind, s.quota
        FROM stats2013 s JOIN wb_org o ON o.org = wb_norm(s.org_code)"""),
    "wb_retire": ((), ""),  # filled from retirement.cohort_table(as_of)
    # what a finding's keys decode to (built after the tables above; see build)
    "wb_units": (("wb_org",), ""),
    "wb_bad_ids": ((), """
        CREATE OR REPLACE TEMP TABLE wb_bad_ids AS  -- the text of malformed IDs (negative keys)
        SELECT k, any_value(id) AS id FROM (
            SELECT _idk AS k, id_number AS id FROM staff WHERE _idk < 0
            UNION ALL SELECT _idk, id_number FROM payroll WHERE _idk < 0) GROUP BY k"""),
}
#: Built for every run, after the tables the chosen rules use: they turn finding keys back into text.
DECODERS = ("wb_units", "wb_bad_ids")
VIEWS = ("wb_staff", "wb_units")
#: The run's staging table: every rule's rows, keys not yet decoded (registry.decode_sql stores them).
FOUND = "CREATE OR REPLACE TEMP TABLE wb_found (rule_id VARCHAR, uk BIGINT, k BIGINT, item VARCHAR, detail VARCHAR)"


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
    """The base tables needed for ``names``, dependencies first, then the decoders (:data:`DECODERS`)."""
    out: list[str] = []

    def visit(n: str) -> None:
        for d in BASE[n][0]:
            visit(d)
        if n not in out:
            out.append(n)

    for n in sorted(set(names) - set(DECODERS)) + list(DECODERS):
        visit(n)
    return out


def _units_sql(built) -> str:
    """wb_units: every unit key of the run -> code and region (a view of the registered units and a small table of
    the unregistered codes found in the person, payroll and off-establishment tables built before it)."""
    unknown = " UNION ALL ".join(f"SELECT uk, uorg FROM {t} WHERE NOT known"
                                 for t in UNIT_TABLES if t in built) or "SELECT NULL::BIGINT AS uk, NULL AS uorg"
    return f"""CREATE OR REPLACE TEMP TABLE wb_unregistered AS
                   SELECT uk, org, {_FALLBACK.format('org')} AS region_code
                   FROM (SELECT uk, any_value(uorg) AS org FROM ({unknown}) WHERE uk IS NOT NULL GROUP BY uk);
               CREATE OR REPLACE TEMP VIEW wb_units AS
                   SELECT ok AS uk, org, region_code FROM wb_org UNION ALL SELECT * FROM wb_unregistered"""


def build(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, object], built=()) -> None:
    """Create one base table (``built``: the base tables created before it in this run)."""
    if name == "wb_retire":
        con.register("wb_retire_in", retirement.cohort_table(params["as_of"]))
        con.execute("CREATE OR REPLACE TEMP TABLE wb_retire AS SELECT grp, CAST(birth_month AS DATE) AS birth_month,"
                    " CAST(retire_months AS INTEGER) AS retire_months FROM wb_retire_in")
        con.unregister("wb_retire_in")
        return
    con.execute(_units_sql(built) if name == "wb_units" else bind(BASE[name][1], params))


def build_all(con: duckdb.DuckDBPyConnection, names, params: dict[str, object]) -> None:
    """Create the base tables ``names`` need, in the order of :func:`order`."""
    built: list[str] = []
    for name in order(names):
        build(con, name, params, built)
        built.append(name)


def drop_all(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every base table / view of the run."""
    for name in [*BASE, "wb_unregistered", "wb_found"]:
        con.execute(f"DROP {'VIEW' if name in VIEWS else 'TABLE'} IF EXISTS {name}")
