"""The DuckDB workspace: one file per campaign.

Every intake sheet becomes a table named after ``Sheet.table`` with the canonical columns plus the
metadata columns ``_file, _sheet, _row, _load_id``. Bookkeeping tables: ``settings`` (as_of …),
``loads`` (one row per file × sheet loaded, with sha256), ``rejects`` (rows that could not be loaded,
with their reason and raw values), ``finding_runs`` / ``findings`` (rule results).

Writers open the file itself; readers (reports, dashboards) open a published read-only snapshot
(``<name>.snapshot.duckdb``) so a running dashboard never blocks a later intake. Every writing command
calls :func:`publish` when it has committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb

from . import contract, derived, ids

DEFAULT_AS_OF = dt.date(2014, 3, 31)

BOOKKEEPING_DDL = """
CREATE TABLE IF NOT EXISTS settings (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS load_seq START 1;
CREATE TABLE IF NOT EXISTS loads (
    load_id BIGINT, file VARCHAR, path VARCHAR, sha256 VARCHAR, size BIGINT, sheet VARCHAR,
    "table" VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT,
    loaded_at TIMESTAMP, status VARCHAR, message VARCHAR);
CREATE TABLE IF NOT EXISTS rejects (
    load_id BIGINT, file VARCHAR, sheet VARCHAR, "table" VARCHAR, "row" BIGINT, "column" VARCHAR,
    value VARCHAR, reason VARCHAR, region_code VARCHAR, org_code VARCHAR, raw VARCHAR);
CREATE TABLE IF NOT EXISTS finding_runs (
    run_id BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP, as_of DATE, rules VARCHAR);
CREATE TABLE IF NOT EXISTS rule_status (
    run_id BIGINT, rule_id VARCHAR, version VARCHAR, status VARCHAR, reason VARCHAR,
    findings BIGINT, seconds DOUBLE);
CREATE TABLE IF NOT EXISTS findings (
    run_id BIGINT, rule_id VARCHAR, severity VARCHAR, region_code VARCHAR, org_code VARCHAR,
    id_number VARCHAR, item VARCHAR, title VARCHAR, detail VARCHAR);
"""


def table_ddl(sheet: contract.Sheet) -> str:
    cols = [f'"{c.name}" {c.sql_type}' for c in sheet.columns]
    cols += [f'"{n}" {t}' for n, t in (*contract.META_COLUMNS, *derived.columns(sheet))]
    return f'CREATE TABLE IF NOT EXISTS "{sheet.table}" ({", ".join(cols)});'


def snapshot_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".snapshot" + p.suffix)


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table the workspace holds (idempotent)."""
    con.execute(BOOKKEEPING_DDL)
    for sheet in contract.SHEETS:
        con.execute(table_ddl(sheet))
    have = set(con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database()"
                           " AND schema_name = 'main'").fetchall())
    for sheet in contract.SHEETS:
        for name, sql_type in derived.columns(sheet):  # a workspace from before the derived columns
            if (sheet.table, name) not in have:
                con.execute(f'ALTER TABLE "{sheet.table}" ADD COLUMN {name} {sql_type}')


def connect(path: str | os.PathLike, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the workspace file for writing (creating it and its schema), or read-only."""
    path = Path(path)
    if read_only:
        con = duckdb.connect(str(path), read_only=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        init_schema(con)
    return ids.install_macros(con)


@contextlib.contextmanager
def writer(path: str | os.PathLike, publish_after: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writing connection; on a clean exit the read-only snapshot is republished."""
    con = connect(path)
    try:
        yield con
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if publish_after:
        publish(path)


def publish(path: str | os.PathLike) -> Path:
    """Copy the workspace to its snapshot atomically (readers holding the old one keep it)."""
    path = Path(path)
    target = snapshot_path(path)
    fd, tmp = tempfile.mkstemp(prefix=".snapshot-", suffix=".duckdb", dir=path.parent)
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def reader(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """A read-only connection on the published snapshot (falls back to the file itself)."""
    path = Path(path)
    snap = snapshot_path(path)
    if not path.exists() and not snap.exists():
        raise FileNotFoundError(f"工作区不存在：{path}")
    target = snap if snap.exists() else path
    return connect(target, read_only=True)


# ------------------------------------------------------------------------------------------ settings
def get_setting(con: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    rows = con.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchall()  # fetchall: no open result
    return rows[0][0] if rows else default


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, str(value)])


def as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The campaign's reference date (DESIGN §4), 2014-03-31 unless set."""
    v = get_setting(con, "as_of")
    return dt.date.fromisoformat(v) if v else DEFAULT_AS_OF


def row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per contract table."""
    return {s.table: con.execute(f'SELECT count(*) FROM "{s.table}"').fetchall()[0][0] for s in contract.SHEETS}
