"""Columns derived from a row's citizen ID when it is loaded, so a check run compares integers, not text.

Every sheet with a 公民身份号码 column (``contract.ID``) carries ``_idk`` — an integer key of the normalised
ID (``wb_id_key``: the 17 digits × 11 + the check character for a well-formed ID, a negative 62-bit hash of the
text otherwise; two different malformed IDs share a key with probability < 10⁻⁹ even at a million of them).
The roster (人员) also carries ``_idb``: the birth date of an ID that passes every check of DESIGN §4 except the
one against as_of (``wb_id_born``), so ``valid(id, as_of) = _idb <= as_of``.

Intake's reader threads compute them with the other columns of a chunk (``ids.id_columns``, numpy; the key of a
malformed ID is added as the rows go in, :func:`prepared`). :func:`complete` brings rows written by any other means
(scripts, tests, a workspace from before these columns) to the state intake leaves: IDs and codes normalised as
the rules compare them (full-width → half-width, blanks removed, upper case; codes trimmed, a blank code its
default) and the derived columns filled. A check run calls it first; on an intake-loaded workspace it finds
nothing to do.
"""

from __future__ import annotations

import duckdb

from . import contract

_FULL = ("\u3000\u00a0\r\n" + "".join(chr(c) for c in range(0xFF01, 0xFF5F))).replace("'", "''")
_HALF = ("    " + "".join(chr(c) for c in range(0x21, 0x7F))).replace("'", "''")

#: Normalisation of IDs and unit codes compared by the rules (DESIGN §3/§4): full-width -> half-width, all blanks
#: removed, upper case; empty -> NULL. ``wb_code`` trims a code, ``wb_blank`` any value; empty -> NULL.
MACROS = f"""
CREATE OR REPLACE TEMP MACRO wb_norm(s) AS
    CASE WHEN strlen(s) = length(s) AND NOT contains(s, ' ') AND NOT contains(s, chr(9)) THEN NULLIF(upper(s), '')
         ELSE NULLIF(upper(replace(replace(translate(s, '{_FULL}', '{_HALF}'), ' ', ''), chr(9), '')), '') END;
CREATE OR REPLACE TEMP MACRO wb_blank(s) AS NULLIF(trim(CAST(s AS VARCHAR)), '');
CREATE OR REPLACE TEMP MACRO wb_code(s) AS CASE WHEN contains(s, ' ') THEN NULLIF(trim(s), '') ELSE NULLIF(s, '') END;
"""

KEY, BORN = "_idk", "_idb"


def sheets() -> list[contract.Sheet]:
    """The sheets whose rows carry derived ID columns."""
    return [s for s in contract.SHEETS if any(c.name == "id_number" and c.type == contract.ID for c in s.columns)]


def columns(sheet: contract.Sheet) -> list[tuple[str, str]]:
    """(name, SQL type) of the derived columns of ``sheet`` (none for sheets without a citizen ID)."""
    if sheet not in sheets():
        return []
    return [(KEY, "BIGINT")] + ([(BORN, "DATE")] if sheet is contract.STAFF else [])


def with_columns(sheet: contract.Sheet, select: str) -> str:
    """``select`` (rows with the sheet's canonical columns, IDs normalised) plus its derived columns."""
    cols = dict(columns(sheet))
    if not cols:
        return select
    sql = f"SELECT *, wb_id_key(id_number) AS {KEY} FROM ({select})"
    if BORN in cols:
        sql = f"SELECT *, wb_id_born({KEY}, id_number) AS {BORN} FROM ({sql})"
    return sql


def prepared(sheet: contract.Sheet) -> str:
    """SELECT-list items for the derived columns of rows that intake's readers prepared: ``_idk`` / ``_idb`` come
    computed (``ids.id_columns``, null key for a malformed ID), the hash key of a malformed ID is added here."""
    names = dict(columns(sheet))
    if not names:
        return ""
    out = f", COALESCE({KEY}, wb_id_hashkey(id_number)) AS {KEY}"
    return out + (f", {BORN}" if BORN in names else "")


def _normalised(col: contract.Column) -> str | None:
    """SQL normalising one column of a row not written by intake (None: left as it is)."""
    name = f'"{col.name}"'
    if col.type in (contract.ID, contract.USCC, contract.REGION):
        return f"wb_norm({name})"
    if col.type == contract.CODE:
        return f"COALESCE(wb_code({name}), '{col.blank}')" if col.blank is not None else f"wb_code({name})"
    if col.type == contract.TEXT:
        return f"wb_code({name})"
    return None


def complete(con: duckdb.DuckDBPyConnection) -> int:
    """Normalise and derive the rows that lack their derived columns; returns how many rows were completed."""
    con.execute(MACROS)
    counts = " UNION ALL ".join(f"SELECT '{s.table}', count(*) FROM \"{s.table}\" WHERE {KEY} IS NULL" for s in sheets())
    tables = {t for t, n in con.execute(counts).fetchall() if n}
    done = 0
    for sheet in [s for s in sheets() if s.table in tables]:
        norm = {c.name: e for c in sheet.columns if (e := _normalised(c)) is not None}
        values = ", ".join(f'{e} AS "{n}"' for n, e in norm.items())
        todo = f'SELECT rowid AS _r, {values} FROM "{sheet.table}"' \
               f" WHERE {KEY} IS NULL"  # (a row without an ID comes back each time: it stays without a key)
        sets = [f'"{n}" = n."{n}"' for n in norm] + [f"{n} = n.{n}" for n, _ in columns(sheet)]
        done += con.execute(f'UPDATE "{sheet.table}" SET {", ".join(sets)} FROM ({with_columns(sheet, todo)}) n'
                            f' WHERE "{sheet.table}".rowid = n._r').fetchall()[0][0]
    return done
