"""Benchmark of the rule catalogue (issue 3): whole catalogue, per rule, vs one plain GROUP BY over the roster.

Builds (or reuses) workspaces under /work/bench-data (never in the repo) with tables generated directly in
DuckDB with SQL of the intake shape: ~20 staff per unit, two payroll months, police / HR / organisation-dept
returns for everyone, and a few percent of planted anomalies so every rule has work to do.

    .venv/bin/python bench/check.py                 # 500,000 staff, then 10,000,000 staff
    .venv/bin/python bench/check.py --sizes 500000  # only the 500k set
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from workbench import contract, derived, ids, rules
from workbench import workspace as wsp

DATA = Path(os.environ.get("WB_BENCH_DATA", "/work/bench-data"))


def _id_sum(arg: str) -> str:
    return " + ".join(f"CAST(substr({arg}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(ids.ID_WEIGHTS))


def _uscc_sum(arg: str) -> str:
    return " + ".join(f"(instr('{ids.USCC_ALPHABET}', substr({arg}, {i + 1}, 1)) - 1) * {w}"
                      for i, w in enumerate(ids.USCC_WEIGHTS))


def generate(con, n_staff: int, seed: int = 20140331) -> None:
    """Fill an empty workspace with n_staff roster rows and matching sources (set-based SQL)."""
    n_org = max(n_staff // 20, 10)
    kinds = list(contract.EST_KINDS)
    quota_cols = list(contract.EST_KINDS.values())
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    # regions: Gansu county codes
    from workbench import regions

    counties = regions.county_level()["region_code"].tolist()
    con.execute("CREATE OR REPLACE TEMP TABLE g_regions AS SELECT unnest(?::VARCHAR[]) AS region_code, "
                "generate_subscripts(?::VARCHAR[], 1) - 1 AS k", [counties, counties])
    nreg = len(counties)
    u17 = "'12' || r.region_code || lpad(CAST(o.i AS VARCHAR), 9, '0')"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_org AS
        SELECT o.i, {u17} AS u17, r.region_code,
               CASE WHEN o.i % 50 = 7 THEN '生产经营类' WHEN o.i % 3 = 0 THEN '公益一类' END AS psi,
               CASE WHEN o.i % 3 = 0 THEN '事业单位' ELSE '政府机关' END AS cat,
               o.i % 4 AS main_kind
        FROM range({n_org}) o(i) JOIN g_regions r ON r.k = o.i % {nreg}""")
    quota_vals = ", ".join(
        f"CASE WHEN main_kind = {j} THEN 19 + (i % 5) WHEN i % 5 = {j} THEN 2 ELSE 0 END AS {col}"
        for j, col in enumerate(quota_cols))
    con.execute(f"""
        INSERT INTO orgs (org_code, org_name, region_code, org_category, psi_class, org_rank, approval_doc, funding,
                          approved_units, actual_units, {', '.join(quota_cols)}, approved_chief, approved_deputy,
                          _file, _sheet, _row, _load_id)
        SELECT u17 || substr('{ids.USCC_ALPHABET}', ((31 - (({_uscc_sum('u17')}) % 31)) % 31) + 1, 1),
               '机构' || i, region_code, cat, psi, '正科级',
               CASE WHEN i % 97 = 3 THEN NULL ELSE '甘编发〔2010〕' || i || '号' END,
               CASE WHEN i % 4 = 3 THEN '财政差额拨款' ELSE '财政全额拨款' END,
               5, 5 + CASE WHEN i % 61 = 5 THEN 1 ELSE 0 END, {quota_vals}, 1, 2,
               'bench.xlsx', '机构', i + 2, 1
        FROM g_org""")
    con.execute("CREATE OR REPLACE TEMP TABLE g_orgcode AS SELECT row_number() OVER () - 1 AS i, org_code, "
                "region_code FROM orgs")
    # staff: person p in unit p % n_org; birth between 1955 and 1995
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_staff AS
        WITH base AS (
            SELECT p, p % {n_org} AS oi, DATE '1955-01-01' + CAST(floor(random() * 14600) AS INTEGER) AS birth,
                   p % 2 AS male FROM range({n_staff}) t(p)),
        s17 AS (
            SELECT b.*, o.org_code, o.region_code || strftime(birth, '%Y%m%d')
                   || lpad(CAST((p // 10) % 100 AS VARCHAR), 2, '0') || CAST((p % 5) * 2 + male AS VARCHAR) AS s
            FROM base b JOIN g_orgcode o ON o.i = b.oi)
        SELECT *, s || substr('{ids.ID_CHECK}', (({_id_sum('s')}) % 11) + 1, 1) AS id FROM s17""")
    kind_case = "CASE " + " ".join(f"WHEN g.main_kind = {j} THEN '{k}'" for j, k in enumerate(kinds)) + " END"
    con.execute(f"""
        INSERT INTO staff (id_number, name, sex, birth_date, org_code, est_kind, staff_class, post, leader_level,
                           entry_date, _file, _sheet, _row, _load_id)
        SELECT CASE WHEN p % 211 = 5 THEN substr(id, 1, 17) || CASE WHEN substr(id, 18, 1) = '1' THEN '2' ELSE '1' END
                    WHEN p % 401 = 9 THEN lower(id)
                    ELSE id END,
               '人员' || p, CASE WHEN p % 307 = 1 THEN (CASE WHEN male = 1 THEN '女' ELSE '男' END)
                               WHEN male = 1 THEN '男' ELSE '女' END,
               birth, s.org_code,
               CASE WHEN p % 173 = 11 THEN '工勤编制' ELSE {kind_case} END,
               CASE WHEN p % 7 = 0 THEN '工勤技能人员' ELSE '专业技术人员' END, '科员',
               CASE WHEN p % 20 = 0 THEN '正职' WHEN p % 20 IN (1, 2) THEN '副职' WHEN p % 20 = 3 AND p % 60 = 3 THEN '副职' ELSE '无' END,
               DATE '2005-07-01', 'bench.xlsx', '人员', p + 2, 1
        FROM g_staff s JOIN g_org g ON g.i = s.oi""")
    # duplicates: 0.3% of persons also on a second unit's roster
    con.execute(f"""
        INSERT INTO staff (id_number, name, sex, birth_date, org_code, est_kind, staff_class, leader_level, _row, _load_id)
        SELECT s.id, '人员' || s.p, NULL, NULL, o.org_code, '事业编制', '专业技术人员', '无', 0, 1
        FROM g_staff s JOIN g_orgcode o ON o.i = (s.oi + 1) % {n_org} WHERE s.p % 331 = 17""")
    # payroll: two months; latest month leaves out 1%, pays 0.5% via another unit, adds ghosts, shares accounts
    for month, extra in (("2014-02", ""), ("2014-03", "AND p % 101 <> 4")):
        con.execute(f"""
            INSERT INTO payroll (id_number, name, org_code, account, pay_month, amount, _row, _load_id)
            SELECT id, '人员' || p,
                   CASE WHEN p % 199 = 8 THEN (SELECT org_code FROM g_orgcode WHERE i = 0) ELSE org_code END,
                   '6222' || lpad(CAST(CASE WHEN p % 509 = 2 THEN p - 1 ELSE p END AS VARCHAR), 12, '0'),
                   '{month}', 4000 + p % 3000, p + 2, 1
            FROM g_staff WHERE TRUE {extra}""")
    con.execute(f"""
        INSERT INTO payroll (id_number, name, org_code, account, pay_month, amount, _row, _load_id)
        SELECT '620102' || strftime(DATE '1980-01-01' + CAST(k AS INTEGER), '%Y%m%d') || '9990', '空饷' || k,
               (SELECT org_code FROM g_orgcode WHERE i = 1), '6229' || lpad(CAST(k AS VARCHAR), 12, '0'), '2014-03', 5000,
               0, 1 FROM range({max(n_staff // 2000, 1)}) t(k)""")
    con.execute("""
        INSERT INTO police (id_number, name, police_result, _row, _load_id)
        SELECT id, '人员' || p, CASE WHEN p % 997 = 3 THEN '已死亡' WHEN p % 499 = 6 THEN '姓名不一致' ELSE '一致' END,
               p + 2, 1 FROM g_staff""")
    con.execute("INSERT INTO hr (id_number, name, org_code, hr_status, _row, _load_id) SELECT id, '人员' || p, "
                "org_code, '在职', p + 2, 1 FROM g_staff WHERE p % 151 <> 10")
    con.execute("""
        INSERT INTO orgdept (id_number, name, org_code, leader_level, _row, _load_id)
        SELECT id, '人员' || p, org_code, CASE WHEN p % 20 = 0 THEN '正职' ELSE '副职' END, p + 2, 1
        FROM g_staff WHERE p % 20 IN (0, 1, 2) AND p % 89 <> 1""")
    con.execute(f"""
        INSERT INTO offstaff (id_number, name, org_code, employment_form, funding_source, _row, _load_id)
        SELECT '620102' || strftime(DATE '1985-01-01' + CAST(k AS INTEGER), '%Y%m%d') || '8881', '编外' || k,
               CASE WHEN k % 97 = 0 THEN '12620102XXXXXXXXXX' ELSE (SELECT org_code FROM g_orgcode WHERE i = 2) END,
               '合同聘用', '财政', 0, 1 FROM range({max(n_staff // 10, 1)}) t(k)""")
    for j, (kind, col) in enumerate(contract.EST_KINDS.items()):
        con.execute(f"""
            INSERT INTO stats2013 (org_code, est_kind, quota, actual, _row, _load_id)
            SELECT org_code, '{kind}', {col} + CASE WHEN row_number() OVER () % 83 = {j} THEN 1 ELSE 0 END, {col}, 0, 1
            FROM orgs WHERE {col} > 0""")
    for t in ("g_regions", "g_org", "g_orgcode", "g_staff"):
        con.execute(f"DROP TABLE {t}")


def workspace_for(n: int) -> Path:
    """The bench workspace for n staff, generated on first use."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"check-{n}.duckdb"
    if not path.exists():
        tmp = path.with_suffix(".tmp.duckdb")
        tmp.unlink(missing_ok=True)
        t0 = time.perf_counter()
        con = wsp.connect(tmp)
        generate(con, n)
        derived.complete(con)  # the ID keys and birth dates intake derives while it loads
        con.execute("CHECKPOINT")
        con.close()
        os.replace(tmp, path)
        print(f"  generated {path} in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def _baseline(con) -> tuple[float, float]:
    """Wall and CPU seconds of one plain GROUP BY org_code count over the roster."""
    w0, c0 = time.perf_counter(), time.process_time()
    con.execute("SELECT org_code, count(*) FROM staff GROUP BY org_code").fetchall()
    return time.perf_counter() - w0, time.process_time() - c0


def _derive_cost(con) -> float:
    """Seconds to compute the derived ID columns of every row of every table (intake pays this while loading)."""
    t0 = time.perf_counter()
    for sheet in derived.sheets():
        counts = ", ".join(f"count({n})" for n, _ in derived.columns(sheet))
        con.execute(f"SELECT {counts} FROM ({derived.with_columns(sheet, f'SELECT id_number FROM {sheet.table}')})"
                    ).fetchall()
    return time.perf_counter() - t0


def measure(n: int, repeat: int = 5) -> dict:
    """Baseline and whole catalogue, interleaved ``repeat`` times (medians); per-rule times of the median run.

    Wall times suffer when other processes share the 2 cores, so CPU times (all DuckDB threads of this
    process) are reported too; the ratio is taken both ways.
    """
    path = workspace_for(n)
    con = wsp.connect(path)
    staff = con.execute("SELECT count(*) FROM staff").fetchall()[0][0]
    if derived.complete(con):  # a bench workspace from before the derived columns
        con.execute("CHECKPOINT")
    derive = _derive_cost(con)
    _baseline(con)  # warm the buffer cache
    rules.run(con)
    con.execute("CHECKPOINT")
    base_w, base_c, runs, cpu, ckpt = [], [], [], [], []
    for _ in range(repeat):
        w, c = _baseline(con)
        base_w.append(w)
        base_c.append(c)
        c0 = time.process_time()
        runs.append(rules.run(con))
        cpu.append(time.process_time() - c0)
        con.execute("DELETE FROM findings WHERE run_id < ?", [runs[-1].run_id])
        w0 = time.perf_counter()
        con.execute("CHECKPOINT")  # as `workbench check` does when it publishes the snapshot (not timed above)
        ckpt.append(time.perf_counter() - w0)
    order = sorted(range(repeat), key=lambda i: runs[i].total_seconds)
    mid = order[len(order) // 2]
    con.close()
    return {
        "n": n, "staff_rows": staff, "baseline": statistics.median(base_w), "baseline_cpu": statistics.median(base_c),
        "catalogue": runs[mid].total_seconds, "catalogue_min": runs[order[0]].total_seconds,
        "catalogue_cpu": statistics.median(cpu), "prepare": runs[mid].prepare_seconds, "run": runs[mid],
        "load": _loadavg(), "derive": derive, "checkpoint": statistics.median(ckpt),
    }


def report(m: dict) -> None:
    print(f"\n== {m['n']:,} staff ({m['staff_rows']:,} roster rows); load average {m['load']} ==")
    print(f"plain GROUP BY org_code count : {m['baseline'] * 1000:8.1f} ms wall, {m['baseline_cpu'] * 1000:8.1f} ms CPU")
    print(f"whole catalogue (23 rules)    : {m['catalogue'] * 1000:8.1f} ms wall (min {m['catalogue_min'] * 1000:.1f}),"
          f" {m['catalogue_cpu'] * 1000:8.1f} ms CPU")
    print(f"ratio catalogue / GROUP BY    : {m['catalogue'] / m['baseline']:8.1f}x wall,"
          f" {m['catalogue_cpu'] / m['baseline_cpu']:8.1f}x CPU")
    print(f"  (then CHECKPOINT, as publishing the snapshot does, not in the figures above: {m['checkpoint'] * 1000:.1f} ms)")
    print(f"  (derived ID columns of all rows, computed by intake while loading: {m['derive'] * 1000:.1f} ms)")
    print(f"  base tables (ID validity, age, units joined): {m['prepare'] * 1000:8.1f} ms")
    print(f"  storing the findings (keys decoded to texts): {m['run'].store_seconds * 1000:8.1f} ms")
    for r in m["run"].results:
        print(f"  {r.rule_id:<20} {r.seconds * 1000:8.1f} ms  {r.findings:>8,} findings  {r.status}")


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or ""
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")


def _loadavg() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="500000,10000000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    import duckdb

    print(f"machine: {platform.machine()} {_cpu_model()} cores={os.cpu_count()} "
          f"python {platform.python_version()} duckdb {duckdb.__version__}; load average {_loadavg()}")
    for n in (int(s) for s in args.sizes.split(",")):
        report(measure(n, args.repeat if n <= 1_000_000 else max(1, min(args.repeat, 3))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
