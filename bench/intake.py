"""Benchmark of intake (issue 2): intake wall time vs a bare read of the same files, in one run.

Generates (or reuses) the ``workbench synth --persons 500000`` set under /work/bench-data (never in the
repo), then times, each in a fresh child process (so peak RSS is per phase and nothing is cached in-process):

* ``fastexcel``  — bare read of every sheet with fastexcel (calamine → Arrow), CSV with pyarrow.csv;
* ``calamine``   — bare read with python-calamine (``to_python``), CSV with the csv module;
* ``intake``     — ``intake.intake`` into a fresh workspace (read, normalise, validate, load, log, publish);
* ``openpyxl``   — ``pandas.read_excel(engine="openpyxl")`` of every sheet, CSV with pandas.read_csv.

    .venv/bin/python bench/intake.py                   # 500,000 persons
    .venv/bin/python bench/intake.py --persons 50000   # smaller set
    .venv/bin/python bench/intake.py --skip openpyxl calamine --repeat 1   # quick check after a change

fastexcel and intake run ``--repeat`` times (default 3), interleaved, and their medians are compared: the
machine is shared, and single runs vary by ±20 %. CPU seconds (all threads) are printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("WB_BENCH_DATA", "/work/bench-data"))
PHASES = ("fastexcel", "calamine", "intake", "openpyxl")


def _files(inputs: Path) -> list[Path]:
    from workbench import readers

    return [p for _, p in readers.list_sources([inputs])]


def _csv_encoding(p: Path) -> str:
    from workbench import readers

    return readers.detect_encoding(p)


def phase(name: str, inputs: Path, ws: Path) -> dict:
    """Run one phase in this process; returns seconds, rows and peak RSS (imports are not timed)."""
    import csv

    import fastexcel
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import python_calamine

    from workbench import intake

    t0, c0 = time.perf_counter(), _cpu()
    rows = 0
    if name == "intake":
        from workbench import intake

        if ws.exists():
            ws.unlink()
        summary = intake.intake([inputs], ws)
        rows = int(summary["read"].sum())
    else:
        for p in _files(inputs):
            if p.suffix.lower() == ".csv":
                enc = _csv_encoding(p)
                if name == "fastexcel":
                    import pyarrow.csv as pacsv

                    rows += pacsv.read_csv(p, read_options=pacsv.ReadOptions(
                        encoding="utf8" if enc == "utf-8" else enc)).num_rows
                elif name == "calamine":
                    import csv

                    with open(p, encoding=enc, newline="") as f:
                        rows += sum(1 for _ in csv.reader(f)) - 1
                else:
                    import pandas as pd

                    rows += len(pd.read_csv(p, encoding=enc, dtype=str))
                continue
            if name == "fastexcel":
                import fastexcel

                r = fastexcel.read_excel(str(p))
                for s in r.sheet_names:
                    rows += r.load_sheet(s, eager=True).num_rows
            elif name == "calamine":
                import python_calamine

                wb = python_calamine.CalamineWorkbook.from_path(str(p))
                for s in wb.sheet_names:
                    rows += len(wb.get_sheet_by_name(s).to_python()) - 1
            else:
                import pandas as pd

                frames = pd.read_excel(p, sheet_name=None, engine="openpyxl")
                rows += sum(len(f) for f in frames.values())
    return {"phase": name, "seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "rows": rows,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _cpu() -> float:
    """CPU seconds of this process, every thread (user + system)."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def run_child(name: str, inputs: Path, ws: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--inputs", str(inputs), "--ws", str(ws)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, load average {load:.1f} at start"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=20140331)
    ap.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    ap.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--ws", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--skip", nargs="*", default=[], choices=PHASES, help="phases to leave out")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of fastexcel and intake, interleaved (medians are compared; default 3)")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.inputs, args.ws)))
        return 0

    root = DATA / f"intake-{args.persons}"
    inputs = root / "inputs"
    if not inputs.exists():
        from workbench import synth

        t = time.perf_counter()
        synth.generate(root, persons=args.persons, seed=args.seed)
        print(f"generated {root} in {time.perf_counter() - t:.0f} s", flush=True)
    files = _files(inputs)
    size = sum(p.stat().st_size for p in files)
    for p in files:  # warm the page cache so every phase reads from memory
        p.read_bytes()
    print(f"# intake benchmark — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(f"data: {len(files)} files, {size / 2**20:.1f} MB, synth --persons {args.persons} --seed {args.seed}")
    ws = root / "bench-workspace.duckdb"
    runs: dict[str, list[dict]] = {}
    order = [n for n in ("fastexcel", "intake") if n not in args.skip] * max(1, args.repeat)
    order += [n for n in ("calamine", "openpyxl") if n not in args.skip]
    for name in order:
        r = run_child(name, inputs, ws)
        runs.setdefault(name, []).append(r)
        print(f"{name:10s} {r['seconds']:8.2f} s  CPU {r['cpu']:6.2f} s  {r['rows']:>10,d} rows  "
              f"peak RSS {r['peak_rss_mb']:5.0f} MB  (load {os.getloadavg()[0]:.1f})", flush=True)
    res = {n: {"seconds": statistics.median(r["seconds"] for r in rs), "best": min(r["seconds"] for r in rs),
               "cpu": statistics.median(r["cpu"] for r in rs)} for n, rs in runs.items()}
    print("median (best) wall, median CPU:")
    for n, r in res.items():
        print(f"  {n:10s} {r['seconds']:6.2f} s ({r['best']:.2f} s), CPU {r['cpu']:6.2f} s")
    bare = [n for n in ("fastexcel", "calamine") if n in res]
    if bare and "intake" in res:
        fastest = min(bare, key=lambda n: res[n]["seconds"])
        ratio = res["intake"]["seconds"] / res[fastest]["seconds"]
        best = res["intake"]["best"] / min(res[n]["best"] for n in bare)
        cpu = res["intake"]["cpu"] / res[fastest]["cpu"]
        print(f"fastest bare reader: {fastest}; intake / bare read = {ratio:.2f}× median wall "
              f"({best:.2f}× best, {cpu:.2f}× CPU) — target ≤ 1.5×")
    if "openpyxl" in res and "intake" in res:
        speedup = res["openpyxl"]["seconds"] / res["intake"]["seconds"]
        print(f"pandas.read_excel(openpyxl) / intake = {speedup:.1f}× (target ≥ 4×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
