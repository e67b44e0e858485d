"""Per-region reports (DESIGN §7): a Papermill batch runner, HTML export, rectification workbooks, index.

``workbench report`` runs ``notebooks/40-region-report.ipynb`` once per region (and per provincial unit with
``--units``) in parallel worker processes. Each worker keeps one IPython kernel and reuses it for the reports
it runs (namespace reset between reports), which removes the kernel start and import cost per report; kernels
talk over IPC sockets and their start is retried, so the TCP port race of parallel kernel starts cannot fail
a run. Per report the worker writes, each atomically (temp file + rename):

- ``ipynb/<code>_<name>.ipynb`` — the executed notebook;
- ``html/<code>_<name>.html`` — the HTML without input cells, error outputs or tracebacks, referencing the run's
  single local ``assets/plotly.min.js`` and ``assets/report.css`` (no CDN, works offline);
- ``整改台账/<code>_<name>_整改台账.xlsx`` — the rectification workbook (:mod:`workbench.rectify`).

Then ``index.html`` lists every report with its headline numbers and ``manifest.json`` records parameters,
seeds, input sha256, outputs and durations. A report that fails is reported (and its partly executed notebook
kept under ``failed/``) without stopping the others; the command then exits non-zero.

The notebook's own helpers live in :mod:`workbench.reportkit`; the numbers and figures in
:mod:`workbench.summaries` and :mod:`workbench.figures`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "40-region-report.ipynb"
ASSETS = "assets"
PLOTLY_JS = "plotly.min.js"
REPORT_CSS = "report.css"
DIRS = {"ipynb": "ipynb", "html": "html", "xlsx": "整改台账", "failed": "failed"}
KERNEL_START_ATTEMPTS = 3
DEFAULT_TIMEOUT = 600
LEVELS = ("province", "city", "county")
UNIT = "unit"


# ========================================================================================== planning
@dataclass(frozen=True)
class Job:
    """One report to produce: a region (province/city/county) or a provincial unit."""

    code: str
    name: str
    level: str  # province | city | county | unit

    @property
    def stem(self) -> str:
        return f"{self.code}_{_safe_name(self.name)}"

    @property
    def kind(self) -> str:
        return UNIT if self.level == UNIT else "region"


def _safe_name(name: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", name).strip("_")[:60] or "未命名"


def plan_jobs(con, regions_arg: str | None = "all", level: str | None = None, units: bool = False) -> list[Job]:
    """The reports to run: the chosen regions (``all`` or comma-separated region codes or unit USCCs) at
    ``level``, plus every provincial unit when asked. Unknown codes are kept (their report fails alone with a
    clear message)."""
    from . import contract, regions

    reg = regions.regions()
    if not regions_arg or regions_arg.strip().lower() == "all":
        chosen = reg
        if level:
            chosen = chosen[chosen["level"] == level]
        jobs = [Job(r.region_code, r.name, r.level) for r in chosen.itertuples()]
    else:
        known = reg.set_index("region_code")
        jobs = []
        for code in dict.fromkeys(c.strip() for c in regions_arg.split(",") if c.strip()):
            if code in known.index:
                if level and known.loc[code, "level"] != level:
                    continue
                jobs.append(Job(code, known.loc[code, "name"], known.loc[code, "level"]))
            else:
                row = con.execute("SELECT any_value(org_name) FROM orgs WHERE org_code = ?", [code]).fetchone()
                if row and row[0] is not None:  # a unit's USCC: its own report
                    jobs.append(Job(code, row[0], UNIT))
                else:  # unknown: kept so that its report fails alone with a clear message
                    jobs.append(Job(code, "未知代码", level or "county"))
    if units:
        rows = con.execute(
            """SELECT org_code, any_value(org_name) FROM orgs
               WHERE region_code = ? AND (parent_org_code IS NULL OR parent_org_code = '')
                 AND coalesce(psi_class, '') <> ?
               GROUP BY org_code ORDER BY org_code""",
            [contract.PROVINCE_UNIT_REGION, contract.OUT_OF_SCOPE_PSI],
        ).fetchall()
        jobs += [Job(code, name or code, UNIT) for code, name in rows]
    # biggest first so the pool's tail is short
    order = {"province": 0, "city": 1, UNIT: 2, "county": 3}
    return sorted(jobs, key=lambda j: (order.get(j.level, 9), j.code))


# ==================================================================================== atomic writes
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ============================================================================================ assets
EXTRA_CSS = """
body.jp-Notebook { max-width: 1180px; margin: 0 auto; padding: 16px 24px; }
.wb-table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
.wb-table th { background: #DDEBF7; padding: 4px 8px; text-align: left; border: 1px solid #c8d6e5; }
.wb-table td { padding: 3px 8px; border: 1px solid #e1e6eb; }
.wb-note { color: #666; font-size: 12px; }
.wb-caption { font-weight: 600; margin: 10px 0 2px; }
.wb-cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
.wb-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 16px; min-width: 180px; }
.wb-card .v { font-size: 20px; font-weight: 600; }
.wb-pass { color: #1a7f37; } .wb-fail { color: #cf222e; }
"""


def write_assets(out: Path) -> dict[str, Path]:
    """Write the run's single plotly.js and stylesheet into ``out/assets`` (once per run)."""
    import plotly
    from jupyter_core.paths import jupyter_path

    assets = out / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    js = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    atomic_write_bytes(assets / PLOTLY_JS, js.read_bytes())
    css = []
    for base in jupyter_path("nbconvert", "templates"):
        static = Path(base) / "lab" / "static"
        if (static / "index.css").exists():
            css = [(static / n).read_text(encoding="utf-8") for n in ("index.css", "theme-light.css")]
            break
    atomic_write_text(assets / REPORT_CSS, "\n".join([*css, EXTRA_CSS]))
    return {"plotly": assets / PLOTLY_JS, "css": assets / REPORT_CSS}


# ======================================================================================= HTML export
#: nbconvert template: JupyterLab's, minus require.js, MathJax, mermaid and widget scripts (all CDN links),
#: with the stylesheet and plotly.js taken from the run's assets folder.
HTML_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}
<script src="../assets/plotly.min.js"></script>
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block notebook_css %}<link rel="stylesheet" href="../assets/report.css">{% endblock notebook_css %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def html_exporter():
    """An nbconvert HTMLExporter without input cells and without any remote URL."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"wb_report.html.j2": HTML_TEMPLATE})],
        template_file="wb_report.html.j2",
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        exclude_anchor_links=True, language_code="zh-CN", config=_exporter_config(),
    )


def _exporter_config():
    from traitlets.config import Config

    c = Config()
    c.CSSHTMLHeaderPreprocessor.enabled = False  # pygments CSS: no code is shown
    return c


def presentable(nb):
    """A copy of the executed notebook fit for readers: no code-only cells, no errors, no stderr."""
    import nbformat

    from . import reportkit

    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell = nbformat.NotebookNode({**cell})  # shallow: the executed notebook itself is left as it is
            cell.outputs = [o for o in cell.get("outputs", [])
                            if o.get("output_type") != "error"
                            and not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                            and not (o.get("output_type") == "display_data"
                                     and set(o.get("data", {})) <= {reportkit.SCRAP_MIME})]
            if not cell.outputs:
                continue
        cells.append(cell)
    return nbformat.NotebookNode({**nb, "cells": cells, "metadata": nbformat.NotebookNode({**nb.metadata})})


def export_html(nb, title: str) -> str:
    nb = presentable(nb)
    nb.metadata["title"] = title
    body, _ = _EXPORTER.get().from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


class _Lazy:
    def __init__(self, factory):
        self.factory, self.value = factory, None

    def get(self):
        if self.value is None:
            self.value = self.factory()
        return self.value


_EXPORTER = _Lazy(html_exporter)


# ================================================================================ kernel-reusing engine
class _KernelPool:
    """This process's kernel: started once (with retries), reused across reports, replaced after a failure."""

    def __init__(self):
        self.km = self.kc = None
        self.dir = None

    def get(self, kernel_name: str, start_timeout: float, cwd: str | None):
        from jupyter_core.utils import run_sync

        if self.km is not None and run_sync(self.km.is_alive)():
            return self.km, self.kc
        self.shutdown()
        last: BaseException | None = None
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                return self._start(kernel_name, start_timeout, cwd)
            except Exception as exc:  # ZMQ port race, kernel died on start, timeout …
                last = exc
                self.shutdown()
                time.sleep(0.5 * attempt)
        raise KernelStartError(f"内核启动失败（已重试{KERNEL_START_ATTEMPTS}次）：{last}") from last

    def _start(self, kernel_name: str, start_timeout: float, cwd: str | None):
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.dir = tempfile.mkdtemp(prefix="wb-kernel-")
        km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(self.dir, "k"))
        self.km = km
        run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.enabled=False"], cwd=cwd or self.dir)
        kc = km.client()
        kc.start_channels()
        self.kc = kc
        run_sync(kc.wait_for_ready)(timeout=start_timeout)
        kc.allow_stdin = False
        return km, kc

    def reset(self) -> None:
        """Clear the user namespace between reports (imported modules stay loaded). Cheaper than %reset,
        which also flushes the output cache and runs a full garbage collection."""
        from jupyter_core.utils import run_sync

        code = ("_wb_ip = get_ipython()\n"
                "for _wb_k in [k for k in _wb_ip.user_ns if not k.startswith('_')"
                " and k not in _wb_ip.user_ns_hidden]:\n"
                "    del _wb_ip.user_ns[_wb_k]\n"
                "_wb_ip.execution_count = 1\n"
                "_wb_ip.user_ns.pop('_wb_k', None)\n"
                "del _wb_ip")
        reply = run_sync(self.kc.execute_interactive)(code, silent=True, store_history=False, timeout=60)
        if reply["content"].get("status") != "ok":
            raise RuntimeError("内核状态重置失败")

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.km = self.kc = self.dir = None


class KernelStartError(RuntimeError):
    pass


_POOL = _KernelPool()


def _engine_class():
    """A Papermill engine that executes on this process's reused kernel with a whole-report deadline."""
    from nbclient.exceptions import CellExecutionError
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import Engine

    class DeadlineClient(PapermillNotebookClient):
        deadline: float = float("inf")

        def papermill_execute_cells(self):
            for index, cell in enumerate(self.nb.cells):
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("报告生成超时")
                self.timeout = max(1, int(remaining))
                try:
                    self.nb_man.cell_start(cell, index)
                    self.execute_cell(cell, index)
                except CellExecutionError as ex:
                    self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                    break
                finally:
                    self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)

    class ReusedKernelEngine(Engine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            km, kc = _POOL.get(kernel_name, start_timeout, None)
            _POOL.reset()
            client = DeadlineClient(nb_man, km=km, kernel_name=kernel_name, startup_timeout=start_timeout,
                                    timeout=execution_timeout)
            client.deadline = time.monotonic() + (execution_timeout or 10**9)
            client.kc = kc
            _LAST_NB["nb"] = nb_man.nb  # kept for failed/ when papermill raises afterwards
            return client.execute()

    return ReusedKernelEngine


_ENGINE_NAME = "workbench-reuse"
_LAST_NB: dict[str, Any] = {}


def _worker_init() -> None:
    """Per worker process: register the engine, keep the kernel quiet, shut it down at exit."""
    import logging
    from multiprocessing import util

    from papermill.engines import papermill_engines

    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    logging.getLogger("papermill").setLevel(logging.WARNING)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    papermill_engines.register(_ENGINE_NAME, _engine_class())
    util.Finalize(None, _POOL.shutdown, exitpriority=10)


# ========================================================================================= one report
@dataclass
class Options:
    workspace: str
    out: str
    pii: str = "masked"
    timeout: float = DEFAULT_TIMEOUT
    notebook: str = str(NOTEBOOK)
    fresh_kernel: bool = False
    kernel_name: str = "python3"


@dataclass
class Result:
    code: str
    name: str
    level: str
    status: str = "ok"  # ok | failed
    error: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    attempts: int = 1


def run_one(job: Job, opts: Options) -> Result:
    """Execute the report notebook for one job and write its ipynb, HTML and rectification workbook."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from . import rectify

    out = Path(opts.out)
    res = Result(job.code, job.name, job.level)
    t0 = time.monotonic()
    params = {"workspace": str(Path(opts.workspace).resolve()), "region_code": job.code, "pii": opts.pii,
              "run_dir": str(out.resolve())}
    nb = None
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            res.attempts = attempt
            try:
                nb = pm.execute_notebook(
                    opts.notebook, None, parameters=params, engine_name=_ENGINE_NAME, kernel_name=opts.kernel_name,
                    progress_bar=False, log_output=False, execution_timeout=opts.timeout, start_timeout=60,
                    report_mode=False)
                break
            except KernelStartError:
                if attempt == KERNEL_START_ATTEMPTS:
                    raise
        res.timings["execute"] = time.monotonic() - t0
        # everything is rendered before anything is written; each file is written atomically, the HTML
        # (the report readers open, listed by the index) last
        stem = job.stem
        t1 = time.monotonic()
        page = export_html(nb, f"{job.name}（{job.code}）编制核查报告")
        res.timings["html"] = time.monotonic() - t1
        t2 = time.monotonic()
        findings = rectify.findings_frame(opts.workspace, job.code, opts.pii, con=_worker_reader(opts.workspace))
        xlsxp = rectify.write_rectification(out / DIRS["xlsx"] / f"{stem}_整改台账.xlsx", findings,
                                            title=f"{job.name}整改台账")
        res.timings["xlsx"] = time.monotonic() - t2
        ipynb = atomic_write_text(out / DIRS["ipynb"] / f"{stem}.ipynb", nbformat.writes(nb))
        htmlp = atomic_write_text(out / DIRS["html"] / f"{stem}.html", page)
        res.outputs = {k: str(p.relative_to(out)) for k, p in
                       (("ipynb", ipynb), ("html", htmlp), ("xlsx", xlsxp))}
        res.outputs["findings"] = str(len(findings))
    except PapermillExecutionError as exc:
        res.status, res.error = "failed", f"第{exc.cell_index + 1}个单元格出错：{exc.ename}: {_first_line(exc.evalue)}"
        _keep_failed(out, job, exc, opts)
    except TimeoutError:  # nbclient's CellTimeoutError, or the deadline passed between cells
        res.status, res.error = "failed", f"报告生成超时（超过 {opts.timeout:g} 秒）"
        _POOL.shutdown()  # the kernel is still busy with the timed-out cell
    except Exception as exc:  # any other failure of this report must not stop the others
        res.status, res.error = "failed", f"{type(exc).__name__}: {_first_line(str(exc))}"
        if not isinstance(exc, KernelStartError):
            _POOL.shutdown()  # the kernel may be busy or dead: start a fresh one for the next report
    finally:
        if opts.fresh_kernel:
            _POOL.shutdown()
    res.seconds = time.monotonic() - t0
    return res


_READERS: dict[str, Any] = {}


def _worker_reader(path: str):
    """This process's read-only connection on the workspace snapshot (opened once per run and worker)."""
    from . import workspace

    if path not in _READERS:
        _READERS[path] = workspace.reader(path)
    return _READERS[path]


def _first_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
    return text.splitlines()[0][:300] if text else ""


def _keep_failed(out: Path, job: Job, exc, opts: Options) -> None:
    """Keep nothing half-written among the reports; the failing notebook goes to ``failed/`` for diagnosis."""
    with contextlib.suppress(Exception):
        import nbformat

        nb = _LAST_NB.pop("nb", None)
        if nb is not None:
            atomic_write_text(out / DIRS["failed"] / f"{job.stem}.ipynb", nbformat.writes(nb))


def _run_in_worker(job: Job, opts: Options) -> Result:
    try:
        return run_one(job, opts)
    except BaseException as exc:  # never let a worker die silently
        return Result(job.code, job.name, job.level, "failed", f"{type(exc).__name__}: {exc}",
                      outputs={"trace": traceback.format_exc()[-2000:]})


# ============================================================================================ the run
def run_reports(workspace: str | os.PathLike, out: str | os.PathLike, regions_arg: str | None = "all",
                level: str | None = None, units: bool = False, jobs: int | None = None, pii: str = "masked",
                timeout: float = DEFAULT_TIMEOUT, progress: bool = True, notebook: str | os.PathLike = NOTEBOOK,
                fresh_kernel: bool = False) -> dict:
    """Run every report; write assets, index.html and manifest.json; return the manifest."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm import tqdm

    from . import workspace as wsmod

    started = dt.datetime.now().astimezone()
    t0 = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = Path(workspace)
    with contextlib.closing(wsmod.reader(ws)) as con:
        plan = plan_jobs(con, regions_arg, level, units)
    if not plan:
        raise ValueError("没有需要生成的报告：请检查 --regions / --level 参数")
    write_assets(out)
    opts = Options(str(ws.resolve()), str(out.resolve()), pii, timeout, str(notebook), fresh_kernel)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(plan)))
    results: list[Result] = []
    bar = tqdm(total=len(plan), desc="生成报告", unit="份", disable=not progress, file=sys.stderr)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init)
    try:
        futures = {pool.submit(_run_in_worker, job, opts): job for job in plan}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                r = fut.result()
            except Exception as exc:  # the worker process itself died
                r = Result(job.code, job.name, job.level, "failed", f"工作进程异常退出：{exc}")
            results.append(r)
            bar.update(1)
            if r.status != "ok":
                bar.write(f"✗ {r.code} {r.name}：{r.error}")
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)  # queued reports are dropped, finished ones are kept
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)
    order = {j.code: i for i, j in enumerate(plan)}
    results.sort(key=lambda r: order.get(r.code, 0))
    with contextlib.closing(wsmod.reader(ws)) as con:
        headlines = headline_table(con, [r for r in results if r.status == "ok"])
        manifest = build_manifest(con, ws, out, results, started, time.monotonic() - t0, dict(
            workspace=str(ws.resolve()), regions=regions_arg or "all", level=level, units=units, jobs=jobs,
            pii=pii, timeout=timeout, notebook=str(notebook), fresh_kernel=fresh_kernel))
    write_index(out, results, headlines, manifest)
    manifest["duration_seconds"] = round(time.monotonic() - t0, 3)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, default=str))
    return manifest


# ====================================================================================== index/manifest
def headline_table(con, results: list[Result]) -> dict[str, dict[str, Any]]:
    """Headline numbers per report code (Chinese labels), from the summaries (see reportkit.headlines)."""
    from . import reportkit, summaries

    regions_ = [r.code for r in results if r.level != UNIT]
    units = {r.code: reportkit.unit_scope(con, r.code) for r in results if r.level == UNIT}
    heads = reportkit.headlines(con, regions_, units)
    return {code: {summaries.LABELS.get(k, k): v for k, v in h.items()} for code, h in heads.items()}


def build_manifest(con, ws: Path, out: Path, results: list[Result], started: dt.datetime, seconds: float,
                   parameters: dict) -> dict:
    """Parameters, seeds, input sha256 (from the loads table), outputs and durations of the run."""
    import papermill

    from . import workspace as wsmod

    loads = con.execute(
        """SELECT file, sheet, "table", sha256, rows_loaded, rows_rejected, CAST(loaded_at AS VARCHAR)
           FROM loads ORDER BY file, sheet""").fetchall()
    settings = dict(con.execute("SELECT key, value FROM settings ORDER BY key").fetchall())
    seeds = {k: v for k, v in settings.items() if "seed" in k.lower()}
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "sample_plan" in tables:
        seeds["sampling_plans"] = {p: s for p, s in con.execute(
            "SELECT plan_id, seed FROM sample_plan ORDER BY created_at").fetchall()}
    run = con.execute("SELECT run_id, CAST(finished_at AS VARCHAR) FROM finding_runs "
                      "ORDER BY run_id DESC LIMIT 1").fetchone()
    snap = wsmod.snapshot_path(ws)
    return {
        "generator": "workbench report",
        "started_at": started.isoformat(timespec="seconds"),
        "duration_seconds": round(seconds, 3),
        "parameters": parameters,
        "seeds": seeds,
        "settings": settings,
        "as_of": str(wsmod.as_of(con)),
        "finding_run": {"run_id": run[0], "finished_at": run[1]} if run else None,
        "workspace_snapshot_sha256": sha256_file(snap if snap.exists() else ws),
        "notebook_sha256": sha256_file(Path(parameters["notebook"])),
        "inputs": [dict(zip(("file", "sheet", "table", "sha256", "rows_loaded", "rows_rejected", "loaded_at"),
                            row, strict=True)) for row in loads],
        "versions": {"python": sys.version.split()[0], "papermill": papermill.__version__},
        "assets": [f"{ASSETS}/{PLOTLY_JS}", f"{ASSETS}/{REPORT_CSS}"],
        "reports": [asdict(r) for r in results],
        "failed": [r.code for r in results if r.status != "ok"],
    }


LEVEL_ZH = {"province": "省级", "city": "市级", "county": "县级", UNIT: "省直单位"}


def write_index(out: Path, results: list[Result], headlines: dict[str, dict[str, Any]], manifest: dict) -> Path:
    """index.html: every report with its headline numbers and links (relative, offline)."""
    keys: list[str] = []
    for h in headlines.values():
        keys += [k for k in h if k not in keys]
    esc = html.escape
    head = "".join(f"<th>{esc(k)}</th>" for k in ["地区/单位代码", "名称", "层级", *keys, "报告", "整改台账", "状态"])
    rows = []
    for r in results:
        h = headlines.get(r.code, {})
        cells = [esc(r.code), esc(r.name), esc(LEVEL_ZH.get(r.level, r.level))]
        cells += [esc(_fmt(h.get(k, ""))) for k in keys]
        if r.status == "ok":
            cells += [f"<a href='{esc(r.outputs['html'])}'>查看报告</a> · <a href='{esc(r.outputs['ipynb'])}'>notebook</a>",
                      f"<a href='{esc(r.outputs['xlsx'])}'>下载</a>", "<span class='ok'>完成</span>"]
        else:
            cells += ["", "", f"<span class='bad'>失败：{esc(r.error)}</span>"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    ok = sum(r.status == "ok" for r in results)
    params = manifest["parameters"]
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>编制核查报告索引</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 24px; color: #24292f; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th {{ background: #DDEBF7; position: sticky; top: 0; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }}
tr:nth-child(even) td {{ background: #f6f8fa; }}
.ok {{ color: #1a7f37; }} .bad {{ color: #cf222e; }}
</style></head><body>
<h1>编制核查报告索引</h1>
<p>工作区：{esc(str(params["workspace"]))}；数据基准日：{esc(manifest["as_of"])}；
生成时间：{esc(manifest["started_at"])}；身份证号：{"完整显示" if params["pii"] == "full" else "脱敏显示"}；
共 {len(results)} 份，成功 {ok} 份，失败 {len(results) - ok} 份。参数、输入文件校验值和耗时见 <a href="manifest.json">manifest.json</a>。</p>
<table><thead><tr>{head}</tr></thead><tbody>
{"".join(rows)}
</tbody></table></body></html>
"""
    return atomic_write_text(out / "index.html", page)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1%}" if 0 <= v <= 1 and not v.is_integer() else f"{v:,.0f}"
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


# ================================================================================================ CLI
def cli_arguments(parser) -> None:
    parser.add_argument("--workspace", required=True, help="工作区文件（.duckdb）")
    parser.add_argument("--out", required=True, help="报告输出目录")
    parser.add_argument("--regions", default="all", help="行政区划代码，逗号分隔，或 all（默认）")
    parser.add_argument("--level", choices=LEVELS, help="只生成该层级的报告：county / city / province")
    parser.add_argument("--units", action="store_true", help="另为每个省直单位生成报告")
    parser.add_argument("--jobs", type=int, default=None, help="并行进程数（默认每核一个）")
    parser.add_argument("--pii", choices=("masked", "full"), default="masked",
                        help="身份证号显示方式：masked 脱敏（默认）/ full 完整")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="单份报告超时秒数（默认600）")
    parser.add_argument("--fresh-kernel", action="store_true", help="每份报告使用新内核（较慢，完全隔离）")
    parser.add_argument("--notebook", default=str(NOTEBOOK), help="报告 notebook（默认 notebooks/40-region-report.ipynb）")
    parser.add_argument("--no-progress", action="store_true", help="不显示进度条")


def cli_run(args) -> int:
    if args.pii == "full":
        print("警告：--pii full 将在报告和整改台账中显示完整身份证号码，请注意信息安全。", file=sys.stderr)
    try:
        manifest = run_reports(args.workspace, args.out, args.regions, args.level, args.units, args.jobs,
                               args.pii, args.timeout, not args.no_progress, args.notebook, args.fresh_kernel)
    except (FileNotFoundError, ValueError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断：已完成的报告保留在输出目录中，索引和 manifest.json 未更新。", file=sys.stderr)
        return 130
    reports = manifest["reports"]
    failed = manifest["failed"]
    print(f"已生成 {len(reports) - len(failed)} 份报告（共 {len(reports)} 份），"
          f"用时 {manifest['duration_seconds']:.1f} 秒；索引：{Path(args.out) / 'index.html'}")
    if failed:
        print(f"失败 {len(failed)} 份：{', '.join(failed)}（详见 manifest.json）", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # python -m workbench.reports … (same as `workbench report …`)
    import argparse

    _parser = argparse.ArgumentParser(prog="workbench report")
    cli_arguments(_parser)
    sys.exit(cli_run(_parser.parse_args()))
