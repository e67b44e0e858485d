"""Time the summaries that reports and dashboards call, on a generated workspace of N staff.

Usage: .venv/bin/python bench/summaries.py [--persons 500000] [--repeat 3]
Prints each function's median time and its ratio to a plain ``GROUP BY org_code`` count over the roster
measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from _common import median_time

from workbench import contract, regions, summaries, workspace


def build(path: Path, persons: int) -> None:
    """Units spread over every region (1 in 25 persons), 2 payroll months, police/HR, ~10% findings."""
    codes = regions.regions()["region_code"].tolist()
    n_units = max(persons // 25, 10)
    kinds = list(contract.EST_KINDS)
    con = workspace.connect(path)
    con.execute("CREATE TEMP TABLE reg AS SELECT unnest(?::VARCHAR[]) AS code, generate_subscripts(?::VARCHAR[], 1) - 1 AS i",
                [codes, codes])
    con.execute(f"""INSERT INTO orgs (org_code, org_name, region_code, org_category, psi_class, approval_doc,
                    funding, approved_units, actual_units, quota_admin, quota_legal, quota_inst, quota_worker,
                    approved_chief, approved_deputy)
        SELECT '12' || r.code || lpad(i::VARCHAR, 10, '0'), '单位' || i, r.code, '事业单位',
               CASE WHEN i % 20 = 0 THEN '生产经营类' ELSE '公益一类' END,
               CASE WHEN i % 13 = 0 THEN NULL ELSE '文' END, '财政全额拨款', 3, 3 + (i % 7 = 0)::INT,
               5, 1, 15, 2, 1, 2
        FROM range({n_units}) t(i) JOIN (SELECT code, i AS ri FROM reg) r ON r.ri = t.i % {len(codes)}""")
    con.execute("""CREATE TEMP TABLE u AS SELECT org_code, row_number() OVER (ORDER BY org_code) - 1 AS k FROM orgs""")
    con.execute(f"""INSERT INTO staff (id_number, name, org_code, est_kind, staff_class, leader_level)
        SELECT '620102' || lpad(i::VARCHAR, 12, '0'), '某',
               CASE WHEN i % 997 = 0 THEN '12620000XX' || lpad(i::VARCHAR, 8, '0') ELSE u.org_code END,
               ['{"', '".join(kinds)}'][1 + (i % 4)], '管理人员',
               CASE WHEN i % 29 = 0 THEN '正职' WHEN i % 11 = 0 THEN '副职' ELSE '无' END
        FROM range({persons}) t(i) JOIN u ON u.k = hash(i) % {n_units}""")
    for month in ("2014-02", "2014-03"):
        con.execute(f"""INSERT INTO payroll (id_number, org_code, account, pay_month)
            SELECT id_number, org_code, 'A' || id_number, '{month}' FROM staff WHERE hash(id_number) % 10 <> 0""")
    con.execute("INSERT INTO police (id_number, police_result) SELECT id_number, '一致' FROM staff")
    con.execute("INSERT INTO hr (id_number, org_code) SELECT id_number, org_code FROM staff WHERE hash(id_number) % 7 <> 0")
    con.execute("INSERT INTO finding_runs VALUES (1, now(), now(), DATE '2014-03-31', 'all')")
    con.execute("""INSERT INTO findings SELECT 1, ['EST_OVER','PER_DUPLICATE','PAY_GHOST','HR_MISSING'][1 + (hash(s.id_number) % 4)::BIGINT],
                   ['high','critical','critical','low'][1 + (hash(s.id_number) % 4)::BIGINT], o.region_code, s.org_code,
                   s.id_number, NULL, 't', 'd'
                   FROM staff s LEFT JOIN orgs o USING (org_code) WHERE hash(s.id_number) % 10 = 1""")
    con.execute("CHECKPOINT")
    con.close()
    workspace.publish(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t = time.perf_counter()
        build(path, args.persons)
        print(f"workspace: {args.persons:,} staff built in {time.perf_counter() - t:.1f} s")
        con = workspace.reader(path)
        t = time.perf_counter()
        summaries.headline(con)
        cold = time.perf_counter() - t
        base = median_time(lambda: con.execute("SELECT org_code, count(*) FROM staff GROUP BY org_code").fetchall(),
                     args.repeat)
        city = regions.children(regions.province_code())[0]
        cases = {
            "headline(province)": lambda: summaries.headline(con),
            "headline(city)": lambda: summaries.headline(con, city),
            "three_way(all regions)": lambda: summaries.three_way(con),
            "institutions": lambda: summaries.institutions(con),
            "establishment_by_kind": lambda: summaries.establishment_by_kind(con),
            "leader_posts": lambda: summaries.leader_posts(con),
            "findings_by_rule": lambda: summaries.findings_by_rule(con),
            "findings_by_region": lambda: summaries.findings_by_region(con),
            "four_clears": lambda: summaries.four_clears(con),
            "findings_list(city, masked)": lambda: summaries.findings_list(con, city),
            "source_coverage": lambda: summaries.source_coverage(con),
            "rollup_check": lambda: summaries.rollup_check(con),
        }
        print(f"machine: {platform.machine()} {platform.processor() or ''} · {time.strftime('%Y-%m-%d')}")
        print(f"{'baseline GROUP BY org_code':32s} {base * 1000:8.1f} ms  1.0×")
        print(f"{'headline, first call (cache)':32s} {cold * 1000:8.1f} ms  {cold / base:6.1f}×")
        for name, fn in cases.items():
            s = median_time(fn, args.repeat)
            print(f"{name:32s} {s * 1000:8.1f} ms  {s / base:6.1f}×")
        con.close()


if __name__ == "__main__":
    main()
