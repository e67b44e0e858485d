"""Benchmark: `workbench report --regions all` on the sample province (101 regions) against Papermill's floor.

Baseline, measured in the same run: the time of Papermill executing an empty (parameters-only) notebook with a
fresh kernel, the way a plain batch runner would run each report; the floor of a plain parallel run is
``101 × t_empty / jobs``. Target: the real run ≤ 2× that floor (indicative ≤ 3 minutes on the 2-core machine).

    .venv/bin/python bench/reports.py [--persons 50000] [--jobs N] [--fresh]   (--fresh also times --fresh-kernel)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def empty_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('workspace = ""\nregion_code = ""\npii = "masked"\nrun_dir = ""',
                                          metadata={"tags": ["parameters"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def time_empty(nb: Path, repeats: int) -> list[float]:
    import papermill as pm

    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        pm.execute_notebook(str(nb), None, parameters={"region_code": str(i)}, progress_bar=False)
        if i:  # the first run warms the file cache
            times.append(time.perf_counter() - t0)
    return times


def run_report(ws: Path, out: Path, jobs: int, extra: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbench.reports", "--workspace", str(ws), "--out", str(out),
                           "--regions", "all", "--jobs", str(jobs), "--no-progress", *extra],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"workbench report failed:\n{proc.stdout}\n{proc.stderr}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=50000, help="sample province size (synth default 50000)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=8, help="empty-notebook executions for the baseline")
    ap.add_argument("--fresh", action="store_true", help="also time --fresh-kernel (one kernel per report)")
    ap.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    args = ap.parse_args()

    from workbench import intake, regions, rules, synth

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-reports-"))
    ws = work / "workspace.duckdb"
    if not ws.exists():
        t0 = time.perf_counter()
        synth.generate(work / "sample", persons=args.persons)
        intake.intake([work / "sample" / "inputs"], ws)
        rules.run_check(ws)
        try:  # a sampling plan, as in the demo (the reports then show it)
            from workbench import sampling_cli

            sampling_cli.make_plan(ws, 20140331, work / "plan")
        except ImportError:
            pass
        print(f"prepared sample province ({args.persons} persons) in {time.perf_counter() - t0:.1f} s → {ws}")
    n = len(regions.regions())

    empty = time_empty(empty_notebook(work / "empty.ipynb"), args.repeats)
    t_empty = statistics.median(empty)
    floor = n * t_empty / args.jobs
    wall = run_report(ws, work / "out", args.jobs, [])
    m = json.loads((work / "out" / "manifest.json").read_text(encoding="utf-8"))
    exe = [r["timings"]["execute"] for r in m["reports"]]
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · {platform.python_version()} · "
          f"load avg {os.getloadavg()[0]:.1f} at end")
    print(f"empty notebook (papermill, fresh kernel): median {t_empty:.2f} s over {len(empty)} runs "
          f"(min {min(empty):.2f}, max {max(empty):.2f})")
    print(f"baseline floor = {n} × {t_empty:.2f} / {args.jobs} jobs = {floor:.1f} s")
    print(f"workbench report --regions all --jobs {args.jobs}: {wall:.1f} s wall "
          f"({len(m['reports'])} reports, per-report execute median {statistics.median(exe):.2f} s) "
          f"→ ratio {wall / floor:.2f}× (target ≤ 2×; indicative ≤ 180 s)")
    if args.fresh:
        fresh = run_report(ws, work / "out-fresh", args.jobs, ["--fresh-kernel"])
        print(f"  with --fresh-kernel (new kernel per report): {fresh:.1f} s → ratio {fresh / floor:.2f}×")


if __name__ == "__main__":
    main()
