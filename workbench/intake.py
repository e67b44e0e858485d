"""Intake: read → normalise → validate → load into the workspace, in one transaction (DESIGN §3).

Files are processed in sorted relative-path order. Per file:

* same bytes as the version already loaded under that name → skipped (a no-op, said in the summary);
* a file that cannot be read (corrupt, encrypted, not a spreadsheet, empty, over the size limits, a
  recognised sheet without header or missing a required column) → *that file* changes nothing (its
  earlier version, if any, stays) and the summary/``loads`` say why in Chinese; the other files still
  load. Nothing is ever half-loaded: a file's rows are removed again if it fails part-way, and any
  other error rolls back the whole call;
* otherwise its rows load, bad rows go to ``rejects`` (one entry per bad cell, with the raw row as
  JSON) and a new version replaces the file's earlier rows and rejects.

For 机构 the first row of a 统一社会信用代码 wins (rows already in the workspace first, then sorted file
order, then row order); later ones are rejected.

A read-ahead thread walks the files (:func:`_read_events`: checks, sha256, cutting large sheets into slices)
and hands the reading and normalising to a small pool of worker threads (a workbook of small sheets, or one
slice of a large sheet, per task; fastexcel releases the GIL); the calling thread takes the results in file
order and validates and inserts them in batches (:class:`_Loader`), DuckDB using the cores left over.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import inspect
import os
import sys
import unicodedata
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from . import contract, derived, normalize, readers, regions, templates, workspace, xlsx
from .normalize import ident, q
from .readers import ReadError

SUMMARY_COLUMNS = ("file", "sheet", "read", "loaded", "rejected", "status", "message")
SUMMARY_HEADERS = {"file": "文件", "sheet": "工作表", "read": "读取", "loaded": "导入", "rejected": "拒绝",
                   "status": "状态", "message": "说明"}
LOADED, REPLACED, UNCHANGED, FAILED, SKIPPED = (
    "已导入", "已导入（替换旧版本）", "未变化（与已导入的版本相同，未重复导入）", "失败", "已忽略")
REJECT_HEADERS = {"file": "文件", "sheet": "工作表", "row": "行号", "column": "列名", "value": "原值",
                  "reason": "原因", "region_code": "行政区划代码", "org_code": "机构代码",
                  "id_number": "公民身份号码", "message": "说明"}
ID_HEADER = contract.STAFF.column("id_number").header
#: the instruction and code-list sheets of our own templates (``workbench templates``)
HELP_SHEETS = frozenset(readers.norm_header(n) for n in (
    templates.INSTRUCTIONS_SHEET, templates.FIELDS_SHEET,
    inspect.signature(xlsx.write_workbook).parameters["lists_sheet"].default))
WORKERS = min(4, max(2, os.cpu_count() or 2))  # threads reading and normalising (fastexcel releases the GIL)


def _run(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> None:
    """Execute a statement and consume its result (the connection must be free for the next one)."""
    con.execute(sql, params).fetchall()


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _sheet_candidates(sheet_name: str) -> tuple[list[contract.Sheet], bool]:
    """Contract sheets a workbook sheet may be: the one its name says, else any (recognised by header)."""
    key = readers.norm_header(sheet_name)
    for s in contract.SHEETS:
        if key in {readers.norm_header(n) for n in (s.name, s.table, *s.aliases)}:
            return [s], True
    return list(contract.SHEETS), False


def _small_workbook(path: Path) -> bool:
    """An xlsx whose every sheet is read whole (no slices): read and normalised as one worker task."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return all(i.file_size <= readers.SMALL_SHEET_BYTES for i in zf.infolist() if "worksheets/" in i.filename)
    except Exception:  # (said by the reader)
        return False


def _now(fn, *args):
    return fn(*args)


def _read_events(files: list[tuple[str, Path]], previous: dict[str, str], max_bytes: int | None,
                 pool: ThreadPoolExecutor) -> Iterator:
    """Read, check and normalise every file (no database work): runs in a read-ahead thread.

    Yields ``("unchanged", base)``, or ``("file", base, order)``, then ``("chunk", sheet, sheet_name, table)``
    and ``("sheet", info)`` items, then ``("ok",)`` or ``("failed", message)``. The work is spread over
    ``pool``: a workbook of small sheets is one task (yielded as a future of its list of events), a large
    sheet or a CSV one task per slice (its chunk event carries a future of the table); see :func:`_resolved`.
    """
    for order, (name, path) in enumerate(files):
        size, sha = path.stat().st_size, _sha256(path)
        base = dict(file=name, path=str(path.resolve()), sha256=sha, size=size)
        if previous.get(name) == sha:
            yield ("unchanged", base)
            continue
        yield ("file", base, order)
        if _small_workbook(path):
            yield pool.submit(lambda *a: list(_file_events(*a)), name, path, order, max_bytes, _now)
        else:
            yield from _file_events(name, path, order, max_bytes, pool.submit)


def _file_events(name: str, path: Path, order: int, max_bytes: int | None, submit) -> Iterator[tuple]:
    """The events of one file after its ``("file", …)``; chunks are read and prepared through ``submit``."""
    sheets: list[dict] = []
    try:
        kind = readers.check_file(path, name, max_bytes)
        if kind == "csv":
            cands = _sheet_candidates(Path(name).stem)[0]
            yield from _read_sheet(name, order, readers.csv_sheet(path, name, cands), sheets, False, submit)
        else:
            wb = readers.Workbook(path, name, max_bytes)
            try:
                for sheet_name, member in wb.sheets:
                    if readers.norm_header(sheet_name) in HELP_SHEETS:  # our templates' instructions: quietly left out
                        continue
                    cands, by_name = _sheet_candidates(sheet_name)
                    yield from _read_sheet(name, order, wb.sheet(sheet_name, member, cands), sheets, by_name, submit)
            finally:
                wb.close()
        if not any(r["status"] == "loaded" for r in sheets):
            why = "；".join(r["message"] for r in sheets if r["message"]) or "没有任何工作表"
            raise ReadError(f"文件“{name}”中没有可导入的工作表：{why}")
    except ReadError as exc:
        yield ("failed", str(exc))
        return
    for r in sheets:
        yield ("sheet", r)
    yield ("ok",)


def _prepared(read, header, name, sheet_name, order) -> pa.Table:
    """Read a chunk and prepare it (in a worker thread); entirely empty rows are dropped here."""
    table = normalize.prepare(read(), header, 0, name, sheet_name, order)
    return table.filter(table.column("_nonempty"))


def _read_sheet(name: str, order: int, src: readers.SheetSource, sheets: list[dict], by_name: bool,
                submit=_now) -> Iterator[tuple]:
    header = src.header
    if header is None:
        if by_name and not src.message:  # (an entirely empty sheet is only noted)
            raise ReadError(f"文件“{name}”的工作表“{src.name}”在前{readers.HEADER_SCAN_ROWS}行中没有找到可识别的表头行"
                            "（应为模板中的中文列名，如“公民身份号码”“姓名”）。")
        sheets.append(dict(sheet=src.name, table=None, status="skipped",
                           message=f"工作表“{src.name}”{src.message or '没有可识别的表头'}，已忽略。"))
        return
    sheet = header.sheet
    missing = header.missing()
    if missing:
        cols = "、".join(f"“{c.header}”" for c in missing)
        if not by_name:  # only recognised by its header: say so and leave it out
            sheets.append(dict(sheet=src.name, table=None, status="skipped", message=(
                f"工作表“{src.name}”的表头（第{header.last_row}行）像“{sheet.name}”表，但缺少必填列：{cols}，已忽略。")))
            return
        raise ReadError(f"文件“{name}”的工作表“{src.name}”（识别为“{sheet.name}”，表头在第{header.last_row}行）"
                        f"缺少必填列：{cols}。")
    notes = []
    if header.extras:
        notes.append("忽略未知列：" + "、".join(f"“{h}”" for h in header.extras.values()) + "（原值保留在被拒行的原始记录中）")
    if header.duplicates:
        notes.append("重复的列只取第一列，忽略：" + "、".join(f"“{h}”" for h in header.duplicates))
    for read in src.chunks:
        yield ("chunk", sheet, src.name, submit(_prepared, read, header, name, src.name, order))
    sheets.append(dict(sheet=src.name, table=sheet.table, status="loaded", message="；".join(notes)))


def _resolved(events: Iterator, idle=None) -> Iterator[tuple]:
    """The events in order with every future replaced by its result; a chunk that cannot be read fails its
    file (the file's later events are dropped, their futures still awaited). ``idle()`` is called instead of
    waiting while the next result is not ready yet."""

    def result(fut: Future):
        if idle is not None and not fut.done():
            idle()
        return fut.result()

    failed = False
    for item in events:
        for event in (result(item) if isinstance(item, Future) else [item]):
            kind = event[0]
            if kind in ("file", "unchanged"):
                failed = False
            elif failed:
                if kind == "chunk" and isinstance(event[3], Future):
                    with contextlib.suppress(ReadError):
                        event[3].result()
                continue
            if kind == "chunk" and isinstance(event[3], Future):
                try:
                    event = (*event[:3], result(event[3]))
                except ReadError as exc:
                    failed = True
                    yield ("failed", str(exc))
                    continue
            yield event


class _Loader:
    """State of one intake call inside its transaction.

    A read-ahead thread reads and normalises the files (:func:`_read_events`) while this thread does the
    database work. Chunks of every file are buffered per contract sheet in one canonical Arrow layout and
    validated and inserted in batches (a few SQL statements per batch, not per sheet): DuckDB's
    per-statement cost dominates otherwise with a hundred small county workbooks.
    """

    BATCH_BYTES = 32 * 2**20  # Arrow bytes buffered per sheet before a flush (each flush costs ≈ 10–30 ms of planning)

    def __init__(self, con: duckdb.DuckDBPyConnection, max_bytes: int | None, on_rows=None, on_file=None):
        self.con, self.max_bytes, self.on_rows, self.on_file = con, max_bytes, on_rows, on_file
        self.entries: list[dict] = []  # per file × sheet, in file order; counts filled from batches
        self.counts: dict[tuple[int, str], list[int]] = {}  # (load_id, sheet) -> [read, rejected]
        self.buffers: dict[str, list[tuple[int, pa.Table]]] = {}
        self.buffered: dict[str, int] = {}
        self.load_ids: list[int] = []
        self.previous: dict[str, str] = {}  # file -> sha256 of its loaded version
        self.meta: dict = {}  # the file being loaded
        self.sheets: list[dict] = []  # its sheets
        orgs_cols = ", ".join(f"{ident(c.name)} {c.sql_type}" for c in contract.ORGS.columns)
        _run(con, f"CREATE OR REPLACE TEMP TABLE _stage_orgs ({orgs_cols}, _file VARCHAR, _sheet VARCHAR, "
                  "_row BIGINT, _load_id BIGINT, _raw VARCHAR, _ord INTEGER)")

    def load(self, files: list[tuple[str, Path]]) -> None:
        """Consume the read-ahead events of every file: buffer/flush chunks, keep the bookkeeping."""
        prev = self.con.execute("SELECT file, arg_max(sha256, load_id), count(*) FROM loads "
                                "WHERE status = 'loaded' GROUP BY file").fetchall()
        self.previous = {f: s for f, s, _ in prev}
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="intake-read") as pool:
            try:
                events = readers.prefetch(_read_events(files, self.previous, self.max_bytes, pool), depth=WORKERS + 1)
                for event in _resolved(events, self._flush_largest):
                    self._event(event)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _event(self, event: tuple) -> None:
        """Handle one read event (in file order)."""
        kind, meta, previous = event[0], self.meta, self.previous
        if kind == "unchanged":
            base = event[1]
            self.entries.append(dict(base, load_id=None, sheet="", table=None, status="unchanged", message=(
                f"文件“{base['file']}”与已导入的版本内容相同（sha256 {base['sha256'][:12]}…），未重复导入。")))
            self._file_done(base)
        elif kind == "file":
            load_id = self.con.execute("SELECT nextval('load_seq')").fetchall()[0][0]
            self.load_ids.append(load_id)
            self.meta = dict(event[1], load_id=load_id, order=event[2])
            self.sheets = []
        elif kind == "chunk":
            _, sheet, sheet_name, table = event
            n = table.num_rows
            table = table.set_column(0, "_load_id", pa.repeat(pa.scalar(meta["load_id"], pa.int64()), n))
            self.counts.setdefault((meta["load_id"], sheet_name), [0, 0])[0] += n
            self.buffers.setdefault(sheet.table, []).append((meta["load_id"], table))
            self.buffered[sheet.table] = self.buffered.get(sheet.table, 0) + table.nbytes
            if self.on_rows:
                self.on_rows(n)
            if self.buffered[sheet.table] >= self.BATCH_BYTES:
                self._flush(sheet)
        elif kind == "sheet":
            self.sheets.append(event[1])
        elif kind == "failed":
            self._undo(meta["load_id"])
            self.entries.append(dict(meta, sheet="", table=None, status="failed", message=event[1]))
            self._file_done(meta)
        else:  # ok
            if meta["file"] in previous:
                self._drop_old(meta["file"], meta["load_id"])
            for r in self.sheets:
                self.counts.setdefault((meta["load_id"], r["sheet"]), [0, 0])
                self.entries.append(dict(meta, **r, replaced=meta["file"] in previous))
            self._file_done(meta)

    def _file_done(self, base: dict) -> None:
        if self.on_file:
            self.on_file(base["size"])

    def _flush(self, sheet: contract.Sheet) -> None:
        """Validate and insert the buffered rows of one contract sheet (set-based, a few statements)."""
        parts = self.buffers.pop(sheet.table, [])
        self.buffered[sheet.table] = 0
        if not parts:
            return
        con = self.con
        # Arrow tables are scanned through DuckDB's replacement scan of these local names, not register():
        # a registered table stays pinned until the transaction commits, which would unbound memory.
        _chunk_in = pa.concat_tables([t for _, t in parts])  # (empty rows were dropped by the readers)
        del parts
        stage = normalize.stage_sql(sheet, "_chunk_in")
        vals = ", ".join(ident("val_" + c.name) for c in sheet.columns)
        meta_cols = "_file, _sheet, _row, _load_id"
        # the clean rows go straight from Arrow into the table (row order kept); reject reasons are gathered
        # only when some rows did not go in
        if sheet is contract.ORGS:
            inserted = con.execute(f"INSERT INTO _stage_orgs SELECT {vals}, {meta_cols}, {normalize.raw_json_sql(sheet)}, "
                                   f"_ord FROM ({stage}) WHERE NOT _bad").fetchall()[0][0]
        else:
            cols = ", ".join(ident(c.name) for c in sheet.columns)
            named = ", ".join(f"{ident('val_' + c.name)} AS {ident(c.name)}" for c in sheet.columns)
            extra = "".join(f", {n}" for n, _ in derived.columns(sheet))
            inserted = con.execute(f"INSERT INTO {ident(sheet.table)} ({cols}, {meta_cols}{extra}) "
                                   f"SELECT {cols}, {meta_cols}{derived.prepared(sheet)} "
                                   f"FROM (SELECT {named}, {meta_cols}{extra} "
                                   f"FROM ({stage}) WHERE NOT _bad)").fetchall()[0][0]
        if inserted == _chunk_in.num_rows:
            return
        _bad = con.sql(f"SELECT * FROM ({stage}) WHERE _bad").to_arrow_table()
        del _chunk_in
        self._count(_bad, 1)
        names = set(sheet.names)
        region = "CASE WHEN err_region_code IS NULL THEN val_region_code END" if "region_code" in names else "NULL"
        org = "val_org_code" if "org_code" in names else "NULL"
        raw = normalize.raw_json_sql(sheet)
        selects = [
            f"SELECT _load_id, _file, _sheet, _row, {q(c.header)} AS col, {ident('r_' + c.name)} AS value, "
            f"{ident('err_' + c.name)} AS reason, {region} AS region_code, {org} AS org_code, {raw} AS raw "
            f"FROM _bad WHERE {ident('err_' + c.name)} IS NOT NULL"
            for c in sheet.columns
        ]
        con.execute(f"INSERT INTO rejects SELECT _load_id, _file, _sheet, {q(sheet.table)}, _row, col, value, reason, "
                    f"region_code, org_code, raw FROM ({' UNION ALL '.join(selects)}) ORDER BY _load_id, _sheet, _row"
                    ).fetchall()

    def _count(self, rows: pa.Table, k: int) -> None:
        """Add the rows per (load, sheet) to the read (k=0) or rejected (k=1) counts."""
        groups = rows.select(["_load_id", "_sheet"]).group_by(["_load_id", "_sheet"]).aggregate([([], "count_all")])
        for load_id, sheet_name, n in zip(*(groups.column(c).to_pylist() for c in ("_load_id", "_sheet", "count_all")),
                                          strict=True):
            self.counts[(load_id, sheet_name)][k] += n

    def _flush_largest(self) -> None:
        """While the readers are busy: flush the fullest buffer (so less is left for the end)."""
        table = max(self.buffered, key=self.buffered.get, default=None)
        if table is not None and self.buffered[table] >= self.BATCH_BYTES // 8:
            self._flush(next(s for s in contract.SHEETS if s.table == table))

    def flush_all(self) -> None:
        for s in contract.SHEETS:
            self._flush(s)

    # ---------------------------------------------------------------------------------- bookkeeping
    def _undo(self, load_id: int) -> None:
        for table, parts in self.buffers.items():
            kept = [(i, t) for i, t in parts if i != load_id]
            self.buffers[table] = kept
            self.buffered[table] = sum(t.nbytes for _, t in kept)
        for s in contract.SHEETS:
            _run(self.con, f"DELETE FROM {ident(s.table)} WHERE _load_id = ?", [load_id])
        _run(self.con, "DELETE FROM _stage_orgs WHERE _load_id = ?", [load_id])
        _run(self.con, "DELETE FROM rejects WHERE load_id = ?", [load_id])
        for key in [k for k in self.counts if k[0] == load_id]:
            del self.counts[key]

    def _drop_old(self, name: str, load_id: int) -> None:
        for s in contract.SHEETS:
            _run(self.con, f"DELETE FROM {ident(s.table)} WHERE _file = ? AND _load_id <> ?", [name, load_id])
        _run(self.con, "DELETE FROM _stage_orgs WHERE _file = ? AND _load_id <> ?", [name, load_id])
        _run(self.con, "DELETE FROM rejects WHERE file = ? AND load_id <> ?", [name, load_id])
        _run(self.con, "UPDATE loads SET status = 'replaced' WHERE file = ? AND status = 'loaded' AND load_id <> ?",
             [name, load_id])

    # ---------------------------------------------------------------------------------- end of call
    def finish(self) -> pd.DataFrame:
        """Flush, resolve duplicate 机构 keys, fill in the region of rejects, write the load log; the summary."""
        self.flush_all()
        con = self.con
        cols = ", ".join(ident(c.name) for c in contract.ORGS.columns)
        key = contract.ORGS.key[0]
        _run(con, f"""
            CREATE OR REPLACE TEMP TABLE _orgs_ranked AS
            SELECT s.*, row_number() OVER w AS _rn,
                   first_value(s._file) OVER w AS _first_file, first_value(s._row) OVER w AS _first_row,
                   e._file AS _old_file, e._row AS _old_row
            FROM _stage_orgs s
            LEFT JOIN (SELECT {key}, arg_min(_file, _file || lpad(_row::VARCHAR, 12, '0')) AS _file,
                              arg_min(_row, _file || lpad(_row::VARCHAR, 12, '0')) AS _row
                       FROM orgs GROUP BY {key}) e USING ({key})
            WINDOW w AS (PARTITION BY s.{key} ORDER BY s._ord, s._row)""")
        _run(con, f"INSERT INTO orgs ({cols}, _file, _sheet, _row, _load_id) "
                  f"SELECT {cols}, _file, _sheet, _row, _load_id FROM _orgs_ranked WHERE _rn = 1 AND _old_file IS NULL")
        header = contract.ORGS.column(key).header
        _run(con, f"""
            INSERT INTO rejects
            SELECT _load_id, _file, _sheet, 'orgs', _row, {q(header)}, {key},
                   '“{header}”“' || {key} || '”重复：与' ||
                   CASE WHEN _old_file IS NOT NULL THEN '工作区中已有的文件“' || _old_file || '”第' || _old_row
                        ELSE '文件“' || _first_file || '”第' || _first_row END
                   || '行的机构相同（同一机构只保留最先出现的一行）',
                   region_code, {key}, _raw
            FROM _orgs_ranked WHERE NOT (_rn = 1 AND _old_file IS NULL) ORDER BY _ord, _row""")
        dups = con.execute("SELECT _load_id, _sheet, count(*) FROM _orgs_ranked "
                           "WHERE NOT (_rn = 1 AND _old_file IS NULL) GROUP BY ALL").fetchall()
        for load_id, sheet, n in dups:
            self.counts[(load_id, sheet)][1] += n
        if self.load_ids:
            ids = ", ".join(str(i) for i in self.load_ids)
            _run(con, f"""
                UPDATE rejects SET region_code = o.region_code
                FROM (SELECT org_code, any_value(region_code) AS region_code FROM orgs GROUP BY org_code) o
                WHERE rejects.load_id IN ({ids}) AND rejects.region_code IS NULL
                  AND rejects.org_code = o.org_code""")
            codes = ", ".join(q(c) for c in regions.regions()["region_code"])
            _run(con, f"""
                UPDATE rejects SET region_code = substr(org_code, 3, 6)
                WHERE load_id IN ({ids}) AND region_code IS NULL AND wb_uscc_valid(org_code)
                  AND substr(org_code, 3, 6) IN ({codes})""")
        _run(con, "DROP TABLE IF EXISTS _orgs_ranked")
        _run(con, "DROP TABLE IF EXISTS _stage_orgs")
        return self._log()

    def _log(self) -> pd.DataFrame:
        """One ``loads`` row per new file × sheet (failed files too); the summary rows, in file order."""
        log, summary = [], []
        for e in self.entries:
            read, rejected = self.counts.get((e["load_id"], e["sheet"]), [0, 0])
            loaded = read - rejected
            status = {"loaded": REPLACED if e.get("replaced") else LOADED, "skipped": SKIPPED,
                      "failed": FAILED, "unchanged": UNCHANGED}[e["status"]]
            summary.append(dict(file=e["file"], sheet=e["sheet"], read=read, loaded=loaded, rejected=rejected,
                                status=status, message=e["message"]))
            if e["status"] != "unchanged":
                log.append(dict(load_id=e["load_id"], file=e["file"], path=e["path"], sha256=e["sha256"],
                                size=e["size"], sheet=e["sheet"] or None, table=e["table"], rows_read=read,
                                rows_loaded=loaded, rows_rejected=rejected, status=e["status"], message=e["message"]))
        if log:
            _log_rows = pa.Table.from_pylist(log)
            self.con.execute('INSERT INTO loads SELECT load_id, file, path, sha256, size, sheet, "table", rows_read, '
                             "rows_loaded, rows_rejected, current_localtimestamp(), status, message FROM _log_rows"
                             ).fetchall()
        out = pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS))
        return out.astype({"read": "int64", "loaded": "int64", "rejected": "int64"})


# ------------------------------------------------------------------------------------------ API
def _parse_as_of(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"参照日期“{value}”无效，应为 YYYY-MM-DD，如 2014-03-31。") from exc


def intake(sources, workspace_path, as_of=None, *, max_bytes: int | None = None,
           progress: bool = False) -> pd.DataFrame:
    """Load files/folders into the workspace in one transaction; returns the summary
    (file, sheet, read, loaded, rejected, status, message), one row per file × sheet."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files = readers.list_sources(sources)
    as_of_date = _parse_as_of(as_of) if as_of is not None else None
    with workspace.writer(workspace_path) as con:
        _run(con, "SET memory_limit = '512MB'")  # bounded memory: DuckDB spills/writes optimistically beyond this
        # the reader threads keep the other cores busy: DuckDB's own threads would only contend with them
        _run(con, f"SET threads = {max(1, (os.cpu_count() or 1) - WORKERS)}")
        con.begin()
        try:
            if as_of_date is not None:
                workspace.set_setting(con, "as_of", as_of_date.isoformat())
            elif workspace.get_setting(con, "as_of") is None:
                workspace.set_setting(con, "as_of", workspace.DEFAULT_AS_OF.isoformat())
            total = sum(p.stat().st_size for _, p in files)
            with tqdm(total=total, unit="B", unit_scale=True, desc="导入", disable=not progress, delay=1.0,
                      file=sys.stderr) as bar:
                rows = [0]

                def on_rows(n: int) -> None:
                    rows[0] += n
                    bar.set_postfix_str(f"{rows[0]:,} 行", refresh=False)
                    bar.update(0)

                loader = _Loader(con, max_bytes, on_rows, bar.update)
                loader.load(files)
            _run(con, f"SET threads = {os.cpu_count() or 1}")  # the readers are done: all cores for the rest
            out = loader.finish()
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return out


def rejects_frame(workspace_path, pii: str = "masked") -> pd.DataFrame:
    """The rejects, one row per bad cell, with Chinese headers; ID numbers masked unless ``pii='full'``."""
    con = workspace.reader(workspace_path)
    try:
        mask = pii != "full"
        idexpr = f"raw->>{q(ID_HEADER)}"
        df = con.execute(f"""
            SELECT file, sheet, "row", "column",
                   CASE WHEN {str(mask).upper()} AND "column" = {q(ID_HEADER)} THEN wb_mask(value) ELSE value END AS value,
                   reason, region_code, org_code,
                   CASE WHEN {str(mask).upper()} THEN wb_mask({idexpr}) ELSE {idexpr} END AS id_number,
                   '文件“' || file || '”工作表“' || sheet || '”第' || "row" || '行“' || "column" || '”：' || reason AS message
            FROM rejects ORDER BY file, sheet, "row", "column" """).df()
    finally:
        con.close()
    return df.rename(columns=REJECT_HEADERS)


def export_rejects(workspace_path, out_path, pii: str = "masked") -> Path:
    """Write the rejects to an xlsx for the units to fix (ID numbers masked unless ``pii='full'``)."""
    df = rejects_frame(workspace_path, pii)
    text = [REJECT_HEADERS[k] for k in ("value", "region_code", "org_code", "id_number")]
    return xlsx.write_workbook(out_path, [xlsx.SheetSpec("被拒行", df, text_columns=text,
                                                         widths={REJECT_HEADERS["message"]: 80,
                                                                 REJECT_HEADERS["reason"]: 60})])


# ------------------------------------------------------------------------------------------ CLI
def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def format_summary(df: pd.DataFrame) -> str:
    """The summary as an aligned text table with Chinese headers (messages listed below it)."""
    cols = ["file", "sheet", "read", "loaded", "rejected", "status"]
    rows = [[SUMMARY_HEADERS[c] for c in cols]] + [[str(v) for v in r] for r in df[cols].itertuples(index=False)]
    widths = [max(_width(r[j]) for r in rows) for j in range(len(cols))]
    lines = []
    for i, r in enumerate(rows):
        cells = [(" " * (widths[j] - _width(v)) + v) if cols[j] in ("read", "loaded", "rejected") and i
                 else v + " " * (widths[j] - _width(v)) for j, v in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    total = df[["read", "loaded", "rejected"]].sum()
    lines.append(f"合计：读取 {total['read']} 行，导入 {total['loaded']} 行，拒绝 {total['rejected']} 行。")
    unchanged = int((df["status"] == UNCHANGED).sum())
    if unchanged:
        lines.append(f"{unchanged} 个文件与已导入的版本内容相同（sha256 一致），未重复导入。")
    notes = [f"- {r.file}{'／' + r.sheet if r.sheet else ''}：{r.message}" for r in df.itertuples()
             if r.message and r.status != UNCHANGED]
    if notes:
        lines += ["说明：", *notes]
    return "\n".join(lines)


def cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="要导入的 .xlsx/.xlsm/.csv 文件或文件夹")
    parser.add_argument("--workspace", required=True, help="工作区文件（DuckDB）")
    parser.add_argument("--as-of", help="参照日期 YYYY-MM-DD（默认 2014-03-31，保存在工作区）")
    parser.add_argument("--max-size", type=float, default=readers.DEFAULT_MAX_BYTES / 2**20,
                        help="单个文件大小上限（MB，默认 200；解压后上限为其 10 倍）")
    parser.add_argument("--rejects", metavar="OUT.xlsx", help="导出被拒行（供填报单位修改）")
    parser.add_argument("--pii", choices=("masked", "full"), default="masked",
                        help="导出时公民身份号码是否脱敏（默认脱敏）")


def cli_run(args: argparse.Namespace) -> int:
    if not args.sources and not args.rejects:
        print("请给出要导入的文件或文件夹，或用 --rejects 导出被拒行。", file=sys.stderr)
        return 2
    status = 0
    if args.sources:
        try:
            df = intake(args.sources, args.workspace, args.as_of, max_bytes=int(args.max_size * 2**20),
                        progress=True)
        except (ReadError, ValueError) as exc:
            print(f"导入失败：{exc}", file=sys.stderr)
            return 1
        print(format_summary(df))
        status = 1 if (df["status"] == FAILED).any() else 0
    if args.rejects:
        out = export_rejects(args.workspace, args.rejects, args.pii)
        print(f"被拒行已导出：{out}")
    return status
