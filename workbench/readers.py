"""Reading intake files: safety checks, header detection and streaming xlsx/csv readers.

Every sheet gives :class:`Chunk` readers (callables that may run in worker threads) — a chunk is an Arrow
table of *raw text* cells (one column per header column, named ``c0, c1, …``) plus the spreadsheet row
number of each record — so memory stays bounded whatever the sheet size. An xlsx sheet is streamed out of the zip in slices of whole
``<row>`` elements; each slice becomes a small uncompressed workbook read by fastexcel (calamine),
with a synthetic header row so the columns keep their names and the row numbers their offset. Numeric
cells in ID columns (an ID that Excel turned into 6.2E+17) are found by scanning the slice's XML.

Problems with a file raise :class:`ReadError` carrying a Simplified-Chinese message.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import queue
import re
import threading
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree as ET

import fastexcel
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import python_calamine

from . import contract

EXTENSIONS = (".xlsx", ".xlsm", ".csv")
DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # on disk
UNCOMPRESSED_FACTOR = 10  # uncompressed limit = 10 × the on-disk limit (2 GB by default)
HEADER_SCAN_ROWS = 30
CHUNK_BYTES = 4 * 1024 * 1024  # XML bytes per slice (≈ 7 000 rows of 10 columns)
CSV_BLOCK = 8 * 1024 * 1024
SMALL_SHEET_BYTES = 8 * 1024 * 1024  # sheets up to this XML size are read whole (shared strings parsed once)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


class ReadError(Exception):
    """A file or sheet that cannot be read; ``str(exc)`` is the Chinese message."""


# ------------------------------------------------------------------------------------------ sources
def list_sources(sources: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """(name, path) of every intake file, sorted by name.

    A folder is searched recursively for .xlsx/.xlsm/.csv (skipping ``~$`` lock files and hidden
    files/folders); ``name`` is the path relative to that folder. A file source is named by its file name.
    """
    out: dict[str, Path] = {}
    for src in sources:
        p = Path(src)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if not f.is_file() or any(part.startswith((".", "~$")) for part in rel.parts):
                    continue
                if f.suffix.lower() in EXTENSIONS:
                    out.setdefault(rel.as_posix(), f)
        elif p.exists():
            out.setdefault(p.name, p)
        else:
            raise ReadError(f"找不到文件或文件夹：{p}")
    return sorted(out.items())


# ------------------------------------------------------------------------------------------ headers
def norm_header(value: object) -> str:
    """Header text for matching: NFKC, no whitespace, no '*' required markers, canonical names lower-cased."""
    s = unicodedata.normalize("NFKC", "" if value is None else str(value))
    s = "".join(s.split()).strip("*")
    return s.lower() if s.isascii() else s


def _lookup(sheet: contract.Sheet) -> dict[str, str]:
    return {norm_header(k): v for k, v in sheet.header_map().items()}


@dataclass
class Header:
    """Where the header is and what each column means."""

    sheet: contract.Sheet
    last_row: int  # spreadsheet row number of the (last) header row
    columns: dict[int, str]  # position in the header sample -> canonical column name
    extras: dict[int, str] = field(default_factory=dict)  # position -> unknown header text (kept in raw)
    duplicates: list[str] = field(default_factory=list)

    def missing(self) -> list[contract.Column]:
        got = set(self.columns.values())
        return [c for c in self.sheet.required if c.name not in got]


def _row_texts(row: Sequence[object]) -> list[str]:
    return [norm_header(v) for v in row]


def _match(texts: list[str], look: dict[str, str]) -> dict[int, str]:
    out: dict[int, str] = {}
    seen: set[str] = set()
    for j, t in enumerate(texts):
        name = look.get(t)
        if name and name not in seen:
            out[j] = name
            seen.add(name)
    return out


def _two_row(parent: list[str], child: list[str], look: dict[str, str]) -> dict[int, str]:
    """Names of a two-row header: a merged parent (value only in its first cell) over child cells."""
    filled, last = [], ""
    for p in parent:
        last = p or last
        filled.append(last)
    out: dict[int, str] = {}
    for j in range(max(len(parent), len(child))):
        p = parent[j] if j < len(parent) else ""
        c = child[j] if j < len(child) else ""
        f = filled[j] if j < len(filled) else ""
        for cand in (c, f + c, p if not c else ""):
            if cand and cand in look and look[cand] not in out.values():
                out[j] = look[cand]
                break
    return out


def find_header(rows: Sequence[Sequence[object]], row_numbers: Sequence[int],
                sheets: Sequence[contract.Sheet]) -> Header | None:
    """The best header among the first rows for any of ``sheets`` (one- or two-row), or None."""
    best: tuple[tuple[int, float, int], Header] | None = None
    texts = [_row_texts(r) for r in rows[:HEADER_SCAN_ROWS]]
    for sheet in sheets:
        look = _lookup(sheet)
        for i, t in enumerate(texts):
            one = _match(t, look)
            cands = [(one, i)]
            if i + 1 < len(texts):
                two = _two_row(t, texts[i + 1], look)
                if len(two) > len(one) and len(set(two.values()) - set(one.values())) > 0:
                    cands.append((two, i + 1))
            for cols, last in cands:
                need = min(2, len(sheet.columns))
                if len(cols) < need:
                    continue
                score = (len(cols), len(cols) / len(sheet.columns), -i)
                if best is None or score > best[0]:
                    width = max(len(texts[last]), len(texts[i]))
                    header_texts = [
                        next((x for x in (texts[last][j] if j < len(texts[last]) else "",
                                          texts[i][j] if j < len(texts[i]) else "") if x), "")
                        for j in range(width)
                    ]
                    extras = {j: str(rows[last][j] if j < len(rows[last]) and rows[last][j] not in (None, "")
                                     else rows[i][j]).strip()
                              for j, h in enumerate(header_texts) if h and j not in cols}
                    dups = [extras.pop(j) for j, h in list(extras.items()) if look.get(header_texts[j])]
                    best = (score, Header(sheet, row_numbers[last], cols, extras, dups))
    return best[1] if best else None


# ------------------------------------------------------------------------------------------ file checks
def check_file(path: Path, name: str, max_bytes: int | None = None) -> str:
    """Reject files that must not be opened; returns the kind ('xlsx' or 'csv')."""
    max_bytes = max_bytes or DEFAULT_MAX_BYTES
    size = path.stat().st_size
    ext = path.suffix.lower()
    if ext == ".xls":
        raise ReadError(f"文件“{name}”是旧版 .xls 格式，不支持：请在 Excel 中另存为 .xlsx 后重新导入。")
    if ext not in EXTENSIONS:
        raise ReadError(f"文件“{name}”的类型不支持（仅支持 .xlsx、.xlsm、.csv）。")
    if size == 0:
        raise ReadError(f"文件“{name}”是空文件（0 字节）。")
    if size > max_bytes:
        raise ReadError(f"文件“{name}”大小为 {size / 2**20:.1f} MB，超过上限 {max_bytes / 2**20:.0f} MB，"
                        "未导入；请拆分文件或用 --max-size 调高上限。")
    with open(path, "rb") as f:
        head = f.read(8)
    if ext == ".csv":
        if head.startswith((ZIP_MAGIC, OLE_MAGIC)):
            raise ReadError(f"文件“{name}”扩展名为 .csv，但内容是 Excel 工作簿：请改为 .xlsx 扩展名。")
        return "csv"
    if head.startswith(OLE_MAGIC):
        if _encrypted(path):
            raise ReadError(f"文件“{name}”已加密（设置了打开密码），无法读取：请取消密码后重新导入。")
        raise ReadError(f"文件“{name}”是旧版 Excel（.xls）格式，扩展名却为 {ext}：请在 Excel 中另存为 .xlsx。")
    if not head.startswith(ZIP_MAGIC):
        kind = "CSV/文本" if _looks_text(path) else "无法识别的"
        raise ReadError(f"文件“{name}”扩展名为 {ext}，但内容是{kind}文件，不是 Excel 工作簿："
                        "如果是 CSV，请把扩展名改为 .csv；否则请在 Excel 中另存为 .xlsx。")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ReadError(f"文件“{name}”已损坏或不完整（{type(exc).__name__}），无法读取：请重新导出或重新发送。") from exc
    total = sum(i.file_size for i in infos)
    limit = max_bytes * UNCOMPRESSED_FACTOR
    ratio = max((i.file_size / max(i.compress_size, 1) for i in infos), default=0)
    if total > limit:
        raise ReadError(f"文件“{name}”解压后为 {total / 2**20:.0f} MB，超过上限 {limit / 2**20:.0f} MB"
                        "（可能是压缩炸弹），未导入。")
    if ratio > 1000 and total > 50 * 2**20:
        raise ReadError(f"文件“{name}”的压缩比异常（{ratio:.0f}:1，可能是压缩炸弹），未导入。")
    if "xl/workbook.xml" not in names:
        raise ReadError(f"文件“{name}”是压缩包，但不是 Excel 工作簿（缺少 xl/workbook.xml）。")
    return "xlsx"


def _encrypted(path: Path) -> bool:
    import msoffcrypto

    try:
        with open(path, "rb") as f:
            return bool(msoffcrypto.OfficeFile(f).is_encrypted())
    except Exception:
        return False


def _looks_text(path: Path) -> bool:
    with open(path, "rb") as f:
        sample = f.read(4096)
    if b"\x00" in sample:
        return False
    return any(_decodes(sample, enc) for enc in ("utf-8", "gb18030"))


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        return False


# ------------------------------------------------------------------------------------------ chunks
@dataclass
class Chunk:
    table: pa.Table  # raw text cells, columns c<position>
    rows: pa.Array  # spreadsheet row number of each record
    numeric: dict[str, pa.Array] = field(default_factory=dict)  # column -> bool array: cell was a number


@dataclass
class SheetSource:
    """One readable sheet: its name, its header and an iterator of chunk *readers* — zero-argument callables
    returning a :class:`Chunk`, in row order, that may run in worker threads (the bytes they need are cut
    out of the file beforehand; fastexcel releases the GIL)."""

    name: str
    header: Header | None
    chunks: Iterator[Callable[[], Chunk]] | None
    message: str = ""


def _ready(chunk: Chunk) -> Callable[[], Chunk]:
    return lambda: chunk


def prefetch(chunks: Iterator[Chunk], depth: int = 1) -> Iterator[Chunk]:
    """Read the next chunks in a background thread while the caller loads the current one."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def work() -> None:
        try:
            for c in chunks:
                while not stop.is_set():
                    try:
                        q.put(c, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(end)
        except BaseException as exc:  # handed over to the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True, name="intake-reader")
    t.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


# ------------------------------------------------------------------------------------------ xlsx
def _col_letter(index: int) -> str:
    s = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        s = chr(65 + rem) + s
    return s


class _Counted(io.RawIOBase):
    """Decompressed-stream wrapper that enforces the uncompressed-size limit while streaming."""

    def __init__(self, stream, limit: int, name: str):
        self.stream, self.limit, self.name, self.n = stream, limit, name, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.n += len(data)
        if self.n > self.limit:
            raise ReadError(f"文件“{self.name}”解压后超过上限 {self.limit / 2**20:.0f} MB（可能是压缩炸弹），未导入。")
        return data


class Workbook:
    """Sheets of an xlsx file, read by streaming each sheet's XML."""

    def __init__(self, path: Path, name: str, max_bytes: int | None = None):
        self.path, self.name = path, name
        self.limit = (max_bytes or DEFAULT_MAX_BYTES) * UNCOMPRESSED_FACTOR
        try:
            self.zf = zipfile.ZipFile(path)
            wb = ET.fromstring(self.zf.read("xl/workbook.xml"))
            rels_xml = self.zf.read("xl/_rels/workbook.xml.rels")
            rels = {r.get("Id"): r.get("Target") for r in ET.fromstring(rels_xml).iter(f"{PKG_REL_NS}Relationship")}
            names = set(self.zf.namelist())
            self.styles = self.zf.read("xl/styles.xml") if "xl/styles.xml" in names else None
            self.sst = self.zf.read("xl/sharedStrings.xml") if "xl/sharedStrings.xml" in names else None
        except ReadError:
            raise
        except Exception as exc:
            raise ReadError(f"文件“{name}”已损坏或不是有效的 Excel 工作簿（{type(exc).__name__}），无法读取。") from exc
        self._fast: fastexcel.ExcelReader | None = None
        pr = wb.find(f"{NS}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904") in ("1", "true")
        self.sheets: list[tuple[str, str]] = []
        for s in wb.iter(f"{NS}sheet"):
            target = rels.get(s.get(f"{REL_NS}id"), "")
            target = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            if "worksheets/" in target:  # chart sheets and macro sheets hold no rows
                self.sheets.append((s.get("name"), target))

    def close(self) -> None:
        self.zf.close()

    # ---- mini workbooks
    def _mini(self, sheet_xml: bytes) -> bytes:
        parts = {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                + ('<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>' if self.styles else "")
                + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>' if self.sst else "")
                + "</Types>").encode(),
            "_rels/.rels": (
                b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                b"</Relationships>"),
            "xl/workbook.xml": (
                '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                + ('<workbookPr date1904="1"/>' if self.date1904 else "")
                + '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>').encode(),
            "xl/_rels/workbook.xml.rels": (
                b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
                b'<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                b"</Relationships>"),
            "xl/worksheets/sheet1.xml": sheet_xml,
        }
        if self.styles:
            parts["xl/styles.xml"] = self.styles
        if self.sst:
            parts["xl/sharedStrings.xml"] = self.sst
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for k, v in parts.items():
                z.writestr(k, v)
        return buf.getvalue()

    # ---- streaming
    def _stream(self, member: str) -> Iterator[bytes]:
        try:
            raw = self.zf.open(member)
        except KeyError as exc:
            raise ReadError(f"文件“{self.name}”已损坏：缺少工作表部件 {member}。") from exc
        stream = _Counted(raw, self.limit, self.name)
        try:
            while True:
                block = stream.read(1024 * 1024)
                if not block:
                    return
                yield block
        except ReadError:
            raise
        except Exception as exc:
            raise ReadError(f"文件“{self.name}”已损坏或不完整（{type(exc).__name__}），无法读取：请重新导出或重新发送。") from exc

    def sheet(self, sheet_name: str, member: str, sheets: Sequence[contract.Sheet]) -> SheetSource:
        """Find the header of one sheet and return a chunk iterator over its data rows."""
        try:
            size = self.zf.getinfo(member).file_size
        except KeyError as exc:
            raise ReadError(f"文件“{self.name}”已损坏：缺少工作表部件 {member}。") from exc
        if size <= SMALL_SHEET_BYTES:  # read whole with the workbook's one fastexcel reader
            xml = b"".join(self._stream(member))
            at = xml.find(b"<sheetData")
            if xml.startswith(b"<sheetData/>", at) or not re.search(rb"<c[\s>]", xml):  # (at: no scan of it all)
                return SheetSource(sheet_name, None, None, "空工作表")
            return self._whole(sheet_name, sheets, xml)
        blocks = self._stream(member)
        buf = b""
        for block in blocks:
            buf += block
            if buf.count(b"</row>") > HEADER_SCAN_ROWS or b"</sheetData>" in buf or b"<sheetData/>" in buf:
                break
        start = buf.find(b"<sheetData>")
        m = re.search(rb"<([A-Za-z0-9_]+:)?worksheet\b[^>]*>", buf)
        if b"<sheetData/>" in buf or start < 0 or m is None or m.group(1):
            if b"<sheetData/>" in buf or (start < 0 and m and not m.group(1)):
                return SheetSource(sheet_name, None, None, "空工作表")
            return self._whole(sheet_name, sheets)
        root = m.group(0)
        body_start = start + len(b"<sheetData>")
        head_end = body_start
        for _ in range(HEADER_SCAN_ROWS):
            k = buf.find(b"</row>", head_end)
            if k < 0:
                break
            head_end = k + len(b"</row>")
        if re.search(rb"<(?:row|c)(?:\s(?![^>]*\br=)[^>]*)?/?>", buf[start:head_end]):
            return self._whole(sheet_name, sheets)  # rows or cells without r="…" references
        head_xml = root + b"<sheetData>" + buf[body_start:head_end] + b"</sheetData></worksheet>"
        cal = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(self._mini(head_xml)))
        sh = cal.get_sheet_by_index(0)
        rows = sh.to_python(skip_empty_area=False)  # absolute: row i = spreadsheet row i+1, column j = letter j
        if not rows:
            return SheetSource(sheet_name, None, None, "空工作表")
        header = find_header([[_text(v) for v in r] for r in rows], list(range(1, len(rows) + 1)), sheets)
        if header is None:
            return SheetSource(sheet_name, None, None)
        letters = {j: _col_letter(j) for j in (*header.columns, *header.extras)}
        # position of the first data row
        pos = body_start
        for mm in re.finditer(rb"<row\b[^>]*?\br=\"(\d+)\"", buf[body_start:]):
            if int(mm.group(1)) > header.last_row:
                pos = body_start + mm.start()
                break
        else:
            pos = len(buf) if b"</sheetData>" not in buf else buf.find(b"</sheetData>")
        id_cols = [f"c{j}" for j, n in header.columns.items() if header.sheet.column(n).type == contract.ID]
        return SheetSource(sheet_name, header, self._chunks(buf[pos:], blocks, root, letters, id_cols))

    def _chunks(self, buf: bytes, blocks: Iterator[bytes], root: bytes, letters: dict[int, str],
                id_cols: list[str]) -> Iterator[Callable[[], Chunk]]:
        """Cut the streamed sheet XML into slices of whole rows; one reader per slice."""
        # shared strings are parsed again for every slice: keep slices at least twice their size
        limit = max(CHUNK_BYTES, 2 * len(self.sst or b""))
        done, searched = False, 0  # (the first bytes of buf already searched for </sheetData>)
        while True:
            pending, size = [buf], len(buf)
            while not done and (size < limit or b"</row>" not in pending[-1]):
                block = next(blocks, None)
                if block is None:
                    done = True
                else:
                    pending.append(block)
                    size += len(block)
            buf = b"".join(pending)
            del pending
            end = buf.find(b"</sheetData>", max(0, searched - len(b"</sheetData>")))
            view = memoryview(buf)  # slices without copying the slice's megabytes (the GIL is held for copies)
            if end >= 0:
                piece, buf, done = view[:end], b"", True
            else:
                cut = buf.rfind(b"</row>")
                if cut < 0:
                    piece, buf = view, b""
                else:
                    piece, buf = view[:cut + 6], bytes(view[cut + 6:])
            searched = len(buf)  # the carried-over rest has been searched
            if re.search(rb"<c\b", piece):
                yield functools.partial(self._read_piece, piece, root, letters, id_cols)
            if done and not buf:
                return

    def _read_piece(self, piece: bytes, root: bytes, letters: dict[int, str], id_cols: list[str]) -> Chunk:
        m = re.search(rb"<row\b[^>]*?\br=\"(\d+)\"", piece)
        if m is None:
            raise ReadError(f"文件“{self.name}”的行缺少行号属性，无法按行读取。")
        first = int(m.group(1))
        sentinel_row = first - 1
        sentinel = f'<row r="{sentinel_row}">' + "".join(
            f'<c r="{letters[j]}{sentinel_row}" t="inlineStr"><is><t>c{j}</t></is></c>'
            for j in sorted(letters, key=lambda k: (len(letters[k]), letters[k]))
        ) + "</row>"
        xml = b"".join((root, b"<sheetData>", sentinel.encode(), piece, b"</sheetData></worksheet>"))  # one copy
        names = [f"c{j}" for j in letters]
        try:
            reader = fastexcel.read_excel(self._mini(xml))
            table, scan = _text_ids(reader, names, id_cols), []
            if table is None:  # an ID column holds something other than text: read as text, scan the XML
                table, scan = pa.Table.from_batches([reader.load_sheet(0, header_row=0, dtypes="string",
                                                                       use_columns=names, eager=True)]), id_cols
        except Exception as exc:
            raise ReadError(f"文件“{self.name}”内容损坏，读取第 {first} 行起的数据时出错：{exc}") from exc
        n = table.num_rows
        rows = pa.array(np.arange(first, first + n, dtype=np.int64))
        numeric = {}
        for col in scan:
            found = _numeric_rows(piece, letters[int(col[1:])])
            if found:
                numeric[col] = pa.array(np.isin(np.arange(first, first + n), np.fromiter(found, np.int64)))
        return Chunk(table, rows, numeric)

    def _reader(self) -> fastexcel.ExcelReader:
        """One fastexcel reader per workbook (shared strings parsed once), for sheets read whole."""
        if self._fast is None:
            try:
                self._fast = fastexcel.read_excel(str(self.path))
            except Exception as exc:
                raise ReadError(f"文件“{self.name}”已损坏或不是有效的 Excel 工作簿，无法读取：{exc}") from exc
        return self._fast

    def _whole(self, sheet_name: str, sheets: Sequence[contract.Sheet], xml: bytes | None = None) -> SheetSource:
        """Read a sheet in one go: small sheets (their XML given, scanned for numeric ID cells) and unusual
        XML (no cell references, namespace prefixes), where a second typed pass finds numeric ID cells."""
        reader = self._reader()
        try:
            sh = reader.load_sheet(sheet_name, header_row=None, skip_rows=0, dtypes="string")
            absolute = [c.absolute_index for c in sh.available_columns()]
            table = pa.Table.from_batches([sh.to_arrow()]) if absolute else pa.table({})
        except Exception as exc:
            raise ReadError(f"文件“{self.name}”的工作表“{sheet_name}”无法读取：{exc}") from exc
        if table.num_rows == 0:
            return SheetSource(sheet_name, None, None, "空工作表")
        # row i of the table is spreadsheet row i + 1; columns are placed at their absolute index
        width = max(absolute) + 1
        head = []
        for r in table.slice(0, HEADER_SCAN_ROWS).to_pylist():
            row: list = [None] * width
            for a, v in zip(absolute, r.values(), strict=True):
                row[a] = v
            head.append(row)
        header = find_header(head, list(range(1, len(head) + 1)), sheets)
        if header is None:
            return SheetSource(sheet_name, None, None)
        pos = {a: k for k, a in enumerate(absolute)}
        keep = [j for j in (*header.columns, *header.extras) if j in pos]
        data = table.slice(header.last_row)
        data = pa.table({f"c{j}": data.column(pos[j]) for j in keep})
        first, n = header.last_row + 1, data.num_rows
        rows = pa.array(np.arange(first, first + n, dtype=np.int64))
        numeric = {}
        tags = _cell_tags(xml) if xml is not None else None
        refs = xml is not None and _cell_refs(xml, tags)
        for j, name in header.columns.items():
            if header.sheet.column(name).type != contract.ID or j not in pos:
                continue
            if refs:
                found = _numeric_rows(xml, _col_letter(j)) if _maybe_numeric(tags, _col_letter(j)) else set()
                if found:
                    numeric[f"c{j}"] = pa.array(np.isin(np.arange(first, first + n), np.fromiter(found, np.int64)))
            else:
                b = reader.load_sheet(sheet_name, header_row=None, skip_rows=0, use_columns=[j],
                                      dtypes={j: "boolean"}, eager=True).column(0)
                numeric[f"c{j}"] = pc.is_valid(b).slice(header.last_row)
        return SheetSource(sheet_name, header, iter([_ready(Chunk(data, rows, numeric))]))


def _text_ids(reader: fastexcel.ExcelReader, names: list[str], id_cols: list[str]) -> pa.Table | None:
    """A slice with every column as text, its ID columns typed by fastexcel strictly over every row: text only
    (the usual case) comes out as strings and proves that no ID cell is a number. None when an ID column holds
    numbers or a mix."""
    try:
        typed = reader.load_sheet(0, header_row=0, use_columns=names, eager=True, schema_sample_rows=None,
                                  dtypes={c: "string" for c in names if c not in id_cols}, dtype_coercion="strict")
    except fastexcel.UnsupportedColumnTypeCombinationError:
        return None
    if not all(typed.column(c).type in (pa.string(), pa.large_string(), pa.null()) for c in id_cols):
        return None
    return pa.Table.from_batches([typed]).cast(pa.schema([(c, pa.string()) for c in names]))


def _cell_tags(xml: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(the sheetData bytes, positions of its ``<c`` tags) — numpy, so the reader thread does not hold the GIL
    (byte scans in Python would stall the inserting thread)."""
    start, end = xml.find(b"<sheetData"), xml.rfind(b"</sheetData>")
    if not 0 <= start < end:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    a = np.zeros(end - start + 64, dtype=np.uint8)  # padded: a tag's 64-byte window never runs off the end
    a[:end - start] = np.frombuffer(xml, dtype=np.uint8, count=end - start, offset=start)
    return a, np.flatnonzero((a[:end - start] == 60) & (a[1:end - start + 1] == 99))  # "<c"


def _cell_refs(xml: bytes, tags: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """Whether every cell of the sheet XML carries its reference (``r="A2"``): checked on every ``<c`` tag
    (the usual layout), else searched for cells or rows without one."""
    a, p = tags if tags is not None else _cell_tags(xml)
    if len(a) and ((a[p + 2] == 32) & (a[p + 3] == 114) & (a[p + 4] == 61) & (a[p + 5] == 34)).all():
        return True
    return not re.search(rb"<(?:row|c)(?:\s(?![^>]*\br=)[^>]*)?/?>", xml)


def _maybe_numeric(tags: tuple[np.ndarray, np.ndarray], letter: str) -> bool:
    """False when no cell of the column can be a number: each of its tags (``<c r="B12" …>``) carries a type
    other than ``t="n"`` or closes empty. A quick numpy pass ahead of :func:`_numeric_rows`' regex."""
    a, p = tags
    key = np.frombuffer(b' r="' + letter.encode(), dtype=np.uint8)
    at = p[a[p + 6] == key[4]]  # the column's first letter right after '<c r="' (checked in full below)
    at = at[(a[at[:, None] + 2 + np.arange(len(key))] == key).all(axis=1)]
    after = a[at + 2 + len(key)]
    at = at[(after >= 48) & (after <= 57)]  # B12, not BC12
    if not len(at):
        return False
    w = a[at[:, None] + np.arange(64)]  # the tag and what follows it
    end = np.argmax(w == 62, axis=1)  # its '>'
    rows = np.arange(len(at))
    closed = (end > 0) & (w[rows, np.maximum(end - 1, 0)] == 47)  # '/>': no value
    t = (w[:, :-4] == 116) & (w[:, 1:-3] == 61) & (w[:, 2:-2] == 34) & (np.arange(60) < end[:, None])  # t="
    kind = w[rows, np.argmax(t, axis=1) + 3]
    return bool(((end == 0) | (~closed & (~t.any(axis=1) | (kind == 110)))).any())


def _numeric_rows(xml: bytes, letter: str) -> set[int]:
    """Row numbers of the numeric (untyped or t="n") cells of one column, from the sheet XML."""
    pattern = (rb'<c r="' + letter.encode() + rb'(\d++)"(?: s="\d++")?+(?: t="n")?+(?: s="\d++")?+>\s*+'  # (possessive:
               rb"(?:<f[^>]*/>|<f[^>]*>[^<]*</f>)?\s*<v>")  # a string cell fails at once, without backtracking)
    return {int(m.group(1)) for m in re.finditer(pattern, xml)}


def _text(v: object) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ------------------------------------------------------------------------------------------ csv
def detect_encoding(path: Path) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030' (a superset of GBK)."""
    with open(path, "rb") as f:
        sample = f.read(1 << 20)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if _decodes(sample, "utf-8"):
        return "utf-8"
    if _decodes(sample, "gb18030"):
        return "gb18030"
    raise ReadError(f"文件“{path.name}”的编码无法识别（支持 UTF-8、带BOM的UTF-8、GBK/GB18030）。")


def csv_sheet(path: Path, name: str, sheets: Sequence[contract.Sheet]) -> SheetSource:
    """The one sheet of a CSV file, streamed in blocks by pyarrow."""
    enc = detect_encoding(path)
    try:
        with open(path, encoding=enc, newline="") as f:
            head = [r for _, r in zip(range(HEADER_SCAN_ROWS), csv.reader(f), strict=False)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReadError(f"文件“{name}”无法按 CSV 解析（{exc}）。") from exc
    header = find_header(head, list(range(1, len(head) + 1)), sheets)
    sheet_name = Path(name).stem
    if header is None:
        return SheetSource(sheet_name, None, None)
    width = max((len(r) for r in head[header.last_row - 1:]), default=0)
    bad_rows: list = []

    def invalid(row) -> str:  # a row whose field count differs from the header's: fail the file, naming it
        bad_rows.append(row)
        return "skip"

    def chunks() -> Iterator[Callable[[], Chunk]]:
        names = [f"x{j}" for j in range(width)]
        keep = {j: f"c{j}" for j in (*header.columns, *header.extras)}
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(encoding="utf8" if enc == "utf-8" else enc, skip_rows=header.last_row,
                                               column_names=names, block_size=CSV_BLOCK, use_threads=False),
                parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                     strings_can_be_null=True, quoted_strings_can_be_null=True),
            )
            first = header.last_row + 1
            for batch in reader:
                if bad_rows:
                    r = bad_rows[0]
                    where = f"第 {r.number} 行" if r.number else "有一行"
                    raise ReadError(f"文件“{name}”{where}有 {r.actual_columns} 列，而表头有 {r.expected_columns} 列"
                                    f"（共 {len(bad_rows)} 行列数不符）：请检查分隔符和引号后重新导出。")
                t = pa.Table.from_batches([batch]).select([names[j] for j in keep]).rename_columns(list(keep.values()))
                yield _ready(Chunk(t, pa.array(np.arange(first, first + t.num_rows, dtype=np.int64))))
                first += t.num_rows
        except pa.ArrowInvalid as exc:
            raise ReadError(f"文件“{name}”无法按 CSV 解析：{exc}") from exc

    return SheetSource(sheet_name, header, prefetch(chunks()))

