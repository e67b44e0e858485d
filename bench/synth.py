"""Benchmark of the sample-province generator: phases of ``synth.generate`` and the sheet writer.

Prints wall time per phase (building the world, assembling frames, writing) and, for the biggest sheet
(the latest month's payroll), the generator's streaming writer against ``xlsx.write_workbook`` (the
shared writer) as the baseline, in the same run.

    .venv/bin/python bench/synth.py                    # 50,000 persons
    .venv/bin/python bench/synth.py --persons 500000   # the full-province benchmark set
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=20140331)
    args = ap.parse_args()

    from workbench import contract, synth, xlsx
    from workbench.synth_write import headers, write_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        w = synth.build_world(args.persons, args.seed)
        t_world = time.perf_counter() - t0
        rng = np.random.default_rng([args.seed, 1])
        t0 = time.perf_counter()
        pay = headers(contract.PAYROLL, synth._payroll_frames(rng, w)[synth.MAR])
        t_frame = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_xlsx(out / "fast.xlsx", [(contract.PAYROLL, pay)])
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        xlsx.write_workbook(out / "base.xlsx", [xlsx.SheetSpec(contract.PAYROLL.name, pay)])
        t_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = synth.generate(out / "full", persons=args.persons, seed=args.seed)
        t_all = time.perf_counter() - t0

    print(f"synth bench {dt.date.today()} on {platform.machine()} {platform.processor() or ''}".strip())
    print(f"persons={args.persons} staff rows={m['staff_rows']} units={m['units']} files={len(m['files'])} "
          f"planted findings={m['truth_findings']}")
    print(f"build world (units, roster, planting, quotas): {t_world:7.1f} s")
    print(f"payroll frame ({len(pay)} rows):                  {t_frame:7.1f} s")
    print(f"write payroll: synth writer {t_fast:6.1f} s | xlsx.write_workbook {t_base:6.1f} s | "
          f"ratio {t_base / t_fast:4.2f}x")
    print(f"generate() end to end:                         {t_all:7.1f} s "
          f"({m['staff_rows'] / t_all:,.0f} staff rows/s)")


if __name__ == "__main__":
    main()
