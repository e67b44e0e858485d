"""Benchmark of the Voila dashboards (issue 6): first full render and filter-change latency in Chromium.

Data: the ``workbench synth --persons 500000`` set under /work/bench-data/intake-<N> (shared with
bench/intake.py: reused when its truth.csv exists, generated otherwise), loaded with intake and checked with
the rule catalogue into /work/bench-data/dashboard/workspace-<N>.duckdb (reused when present).

A real ``workbench dashboard`` server (serve.start) runs on a free localhost port on a copy of the dashboards
folder plus ``baseline.ipynb`` (one ipywidgets Label: Voila + kernel + page overhead, measured in the same run).
Times, in headless Chromium:

* first render  — goto → every figure drawn, titles included (overview) / the findings table shown (explorer), with preheated
  kernels (the default) and with cold kernels (``--no-preheat``: kernel start + reading the snapshot);
* filter change — choose a city (overview: headline + 5 figures redrawn with the city's title), a severity
  and a region (explorer: count and table redrawn).

    .venv/bin/python bench/dashboard.py                  # 500,000 persons
    .venv/bin/python bench/dashboard.py --persons 50000  # smaller set
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

DATA = Path(os.environ.get("WB_BENCH_DATA", "/work/bench-data"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
CITIES = ("兰州市", "天水市", "酒泉市")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def workspace_for(persons: int, seed: int) -> Path:
    """The checked workspace of the synth set (generated, loaded and checked once, then reused)."""
    from workbench import intake, rules, synth

    root = DATA / f"intake-{persons}"
    if not (root / "truth.csv").exists():
        if root.exists():  # another benchmark is generating it: wait for it
            for _ in range(360):
                if (root / "truth.csv").exists():
                    break
                time.sleep(5)
        if not (root / "truth.csv").exists():
            print(f"generating synth --persons {persons} into {root}", flush=True)
            synth.generate(root, persons=persons, seed=seed)
    ws = DATA / "dashboard" / f"workspace-{persons}.duckdb"
    if not ws.exists():
        ws.parent.mkdir(parents=True, exist_ok=True)
        tmp = ws.with_name(ws.stem + ".tmp.duckdb")
        for p in (tmp, tmp.with_name(tmp.stem + ".snapshot.duckdb")):
            p.unlink(missing_ok=True)
        t0 = time.perf_counter()
        intake.intake([root / "inputs"], tmp)
        rules.run_check(tmp)
        os.replace(tmp, ws)
        tmp.with_name(tmp.stem + ".snapshot.duckdb").unlink(missing_ok=True)
        print(f"intake + check: {time.perf_counter() - t0:.1f} s", flush=True)
    return ws


def notebooks_with_baseline(tmp: Path) -> Path:
    from workbench import serve

    out = tmp / "dashboards"
    shutil.copytree(serve.NOTEBOOKS, out)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets as w\nlabel = w.Label('基线')\n"
                                          "label.add_class('wb-ready')\nlabel")]
    nbformat.write(nb, out / "baseline.ipynb")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """serve.start on a free port; waits for readiness and for preheated pools; stops the process group."""

    def __init__(self, ws: Path, notebooks: Path, preheat: bool, log: Path):
        from workbench import serve

        self.port = free_port()
        self.log = log
        self.fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc, _ = serve.start(ws, port=self.port, preheat=preheat, notebooks=notebooks,
                                   stdout=self.fh, stderr=self.fh, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        if not serve.wait_ready(self.base + "/", self.proc, timeout=180):
            raise RuntimeError(f"server not ready: {log.read_text()[-2000:]}")
        self.preheat = preheat

    def pools_filled(self) -> int:
        return self.log.read_text(errors="replace").count("is filled with")

    def wait_pools(self, at_least: int, settle: float, timeout: float = 300) -> None:
        """Wait until ``at_least`` pool fills were logged, then ``settle`` s for the kernel to run its notebook."""
        if not self.preheat:
            return
        deadline = time.monotonic() + timeout
        while self.pools_filled() < at_least and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(settle)

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.fh.close()


def open_page(browser, url: str, ready_js: str) -> tuple[object, float]:
    ctx = browser.new_context(viewport={"width": 1500, "height": 1400})
    page = ctx.new_page()
    page.set_default_timeout(300_000)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(".wb-ready")
    page.wait_for_function(ready_js)
    return page, time.perf_counter() - t0


OVERVIEW_READY = "document.querySelectorAll('.wb-fig.wb-current .js-plotly-plot .gtitle').length >= 3"
EXPLORER_READY = "document.querySelectorAll('.wb-findings-table tbody tr').length > 0"


def timed(action, wait) -> float:
    t0 = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - t0


def overview_filter(page, name: str, code: str) -> float:
    return timed(lambda: page.select_option(".wb-city-filter select", label=name),
                 lambda: (page.wait_for_selector(f".wb-scope-{code}"),
                          page.wait_for_function(f"""Array.from(document.querySelectorAll('.wb-fig.wb-current .gtitle'))
                              .filter(e => e.textContent.startsWith('{name}')).length >= 3""")))


def explorer_filter(page, selector: str, label: str) -> float:
    before = page.inner_text(".wb-count")
    return timed(lambda: page.select_option(f"{selector} select", label=label),
                 lambda: page.wait_for_function(
                     "b => document.querySelector('.wb-count').innerText !== b", arg=before))


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=20140331)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from workbench import dashboards, regions
    from workbench import workspace as wsmod

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    ws = workspace_for(args.persons, args.seed)
    con = wsmod.reader(ws)
    n_staff, n_findings = con.execute(
        "SELECT (SELECT count(*) FROM staff), (SELECT count(*) FROM findings WHERE run_id ="
        " (SELECT max(run_id) FROM finding_runs))").fetchone()
    con.close()
    print(f"{dt.date.today()} · {machine()} · load average {os.getloadavg()[0]:.1f}")
    print(f"workspace: {ws} ({n_staff:,} 人员 rows, {n_findings:,} findings)")

    # in-process: reading the snapshot and building each app (what a cold kernel does before rendering)
    builds = []
    for name, cls in (("overview", dashboards.OverviewApp), ("explorer", dashboards.ExplorerApp)):
        t0 = time.perf_counter()
        cls(ws)
        builds.append(time.perf_counter() - t0)
        print(f"build {name} app in-process: {builds[-1]:.2f} s")
    settle = 2 * max(builds) + 3  # a refilled pool kernel has read the snapshot and built its app by then

    codes = {regions.name_of(c): c for c in regions.regions().query("level == 'city'")["region_code"]}
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmpd, sync_playwright() as p:
        tmp = Path(tmpd)
        nbs = notebooks_with_baseline(tmp)
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        for preheat in (True, False):
            mode = "preheated" if preheat else "cold kernel"
            srv = Server(ws, nbs, preheat, tmp / f"voila-{preheat}.log")
            try:
                filled = 3
                srv.wait_pools(filled, settle)
                for _ in range(args.repeat):
                    for nb, ready in (("baseline", "true"), ("overview", OVERVIEW_READY),
                                      ("explorer", EXPLORER_READY)):
                        page, secs = open_page(browser, f"{srv.base}/voila/render/{nb}.ipynb", ready)
                        results.setdefault(f"first render {nb} ({mode})", []).append(secs)
                        if nb == "overview" and preheat:
                            for city in CITIES:
                                results.setdefault("filter overview: city", []).append(
                                    overview_filter(page, city, codes[city]))
                            results.setdefault("filter overview: back to 全省", []).append(timed(
                                lambda pg=page: pg.select_option(".wb-city-filter select", label="全省"),
                                lambda pg=page: pg.wait_for_selector(".wb-scope-all")))
                        if nb == "explorer" and preheat:
                            results.setdefault("filter explorer: severity", []).append(
                                explorer_filter(page, ".wb-filter-severity", "严重"))
                            results.setdefault("filter explorer: region", []).append(
                                explorer_filter(page, ".wb-filter-region", "兰州市"))
                        page.context.close()
                        filled += 1
                        srv.wait_pools(filled, settle)
            finally:
                srv.stop()
        browser.close()

    print()
    width = max(map(len, results))
    base = {m: statistics.median(results[f"first render baseline ({m})"]) for m in ("preheated", "cold kernel")}
    for key, xs in results.items():
        ratio = ""
        for m, b in base.items():
            if key.startswith("first render") and key.endswith(f"({m})") and "baseline" not in key:
                ratio = f"  ×{statistics.median(xs) / b:.1f} baseline"
        print(f"{key.ljust(width)}  {fmt(xs)}{ratio}")
    first = max(statistics.median(results[f"first render {n} (preheated)"]) for n in ("overview", "explorer"))
    change = max(statistics.median(xs) for k, xs in results.items() if k.startswith("filter"))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"\ntargets: first render ≤ 4 s → {first:.2f} s {'OK' if first <= 4 else 'MISSED'}; "
          f"filter change ≤ 0.5 s → {change:.2f} s {'OK' if change <= 0.5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
