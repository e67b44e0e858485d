"""Time the 督查验收 sampling steps on a generated workspace of N staff.

Usage: .venv/bin/python bench/sampling.py [--persons 500000] [--repeat 3]
Prints each step's median time and its ratio to a plain ``GROUP BY org_code`` count over the roster
measured in the same run. The workspace is built with set-based SQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from _common import median_time

from workbench import contract, regions, sampling, workspace


def build(path: Path, persons: int) -> None:
    """Units in every county-level region and the province (1 per 40 persons), ~10 % findings, 1 % critical."""
    codes = [*regions.county_level()["region_code"].tolist(), contract.PROVINCE_UNIT_REGION]
    n_units = max(persons // 40, len(codes))
    con = workspace.connect(path)
    con.execute("CREATE TEMP TABLE reg AS SELECT unnest(?::VARCHAR[]) AS code,"
                " generate_subscripts(?::VARCHAR[], 1) - 1 AS i", [codes, codes])
    con.execute(f"""
        INSERT INTO orgs (org_code, org_name, region_code, org_category)
        SELECT '12' || r.code || lpad(CAST(u AS VARCHAR), 10, '0'), '单位' || u, r.code, '政府机关'
        FROM range({n_units}) t(u) JOIN reg r ON r.i = u % {len(codes)}""")
    con.execute(f"""
        INSERT INTO staff (id_number, name, org_code)
        SELECT '62010219800101' || lpad(CAST(p AS VARCHAR), 4, '0') || CAST(p AS VARCHAR), '人员' || p,
               '12' || r.code || lpad(CAST(p % {n_units} AS VARCHAR), 10, '0')
        FROM range({persons}) t(p) JOIN reg r ON r.i = (p % {n_units}) % {len(codes)}""")
    con.execute("INSERT INTO finding_runs VALUES (1, now(), now(), DATE '2014-03-31', 'bench')")
    con.execute("""
        INSERT INTO findings (run_id, rule_id, severity, region_code, org_code, id_number)
        SELECT 1, 'BENCH', CASE WHEN hash(s.id_number) % 100 = 0 THEN 'critical' ELSE 'medium' END,
               o.region_code, s.org_code, s.id_number
        FROM staff s JOIN orgs o USING (org_code) WHERE hash(s.id_number) % 10 = 0""")
    con.execute("CHECKPOINT")
    con.close()
    workspace.publish(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws.duckdb"
        t = time.perf_counter()
        build(ws, args.persons)
        print(f"built {args.persons:,} staff in {time.perf_counter() - t:.1f} s "
              f"({platform.processor() or platform.machine()}, Python {platform.python_version()})")
        con = workspace.reader(ws)
        base = median_time(lambda: con.execute("SELECT org_code, count(*) FROM staff GROUP BY ALL").fetchall(),
                           args.repeat)
        plan = sampling.draw_plan(con, 1)
        steps = {
            "sampling_frame (universes, risk weights)": lambda: sampling.sampling_frame(con),
            "draw_plan (units, rotation, persons)": lambda: sampling.draw_plan(con, 1, force_critical=True),
            "write_workbooks": lambda: sampling.write_workbooks(plan, Path(tmp) / "out"),
        }
        print(f"{'step':45} {'median s':>9} {'× baseline':>11}")
        print(f"{'baseline: GROUP BY org_code over staff':45} {base:9.3f} {1:11.1f}")
        for name, fn in steps.items():
            s = median_time(fn, args.repeat)
            print(f"{name:45} {s:9.3f} {s / base:11.1f}")
        con.close()
        plan.plan_id = "BENCH"
        with workspace.writer(ws) as w:
            sampling.store_plan(w, plan)
            s = median_time(lambda: sampling.evaluate_plan(w), args.repeat)
        print(f"{'evaluate_plan (no results loaded)':45} {s:9.3f} {s / base:11.1f}")
        print(f"plan: {int(plan.units['picked'].sum())} units, {len(plan.persons):,} persons to verify")


if __name__ == "__main__":
    main()
