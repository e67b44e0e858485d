"""Sampling on a small real workspace built by inserting rows: plan storage, workbook, results, evaluation, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest

from workbench import cli, contract, ids, regions, sampling, sampling_cli, workspace

ROOT = Path(__file__).resolve().parent.parent


def uscc(n: int, region: str) -> str:
    body = f"12{region}{n:09d}"[:17]
    return body + ids.uscc_check_char(body)


def person_id(n: int, region: str) -> str:
    body = f"{region}1980{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + ids.id_check_char(body)


def build_workspace(path: Path, seed: int = 1) -> Path:
    """Orgs in every county-level region and 8 provincial units (one out of scope, one with a subordinate),
    staff, payroll names and one check run with findings of every severity."""
    rng = np.random.default_rng(seed)
    orgs, staff, findings = [], [], []
    n = 0
    units = [(r, 2) for r in regions.county_level()["region_code"]] + [(contract.PROVINCE_UNIT_REGION, 8)]
    for region, k in units:
        for j in range(k):
            n += 1
            code = uscc(n, region)
            prov = region == contract.PROVINCE_UNIT_REGION
            if prov and j == 0:
                top = code
            parent = top if prov and j == 7 else None  # a subordinate of the first provincial unit
            psi = contract.OUT_OF_SCOPE_PSI if prov and j == 6 else None
            orgs.append((code, f"单位{n}", region, "政府机关", psi, None, parent))
            for _ in range(int(rng.integers(5, 40))):
                n += 1
                pid = person_id(n, region if region != contract.PROVINCE_UNIT_REGION else "620102")
                staff.append((pid, f"人员{n}", code))
                if rng.random() < 0.05:
                    findings.append(("PER_DUPLICATE", "critical", region, code, pid))
                elif rng.random() < 0.2:
                    findings.append(("HR_MISSING", rng.choice(["high", "medium", "low"]), region, code, pid))
    # a ghost (paid, not on the roster) with a critical finding in the first county
    first = orgs[0]
    ghost = person_id(999_999, first[2])
    findings.append(("PAY_GHOST", "critical", first[2], first[0], ghost))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = {
        "orgs": pd.DataFrame(orgs, columns=["org_code", "org_name", "region_code", "org_category", "psi_class",
                                           "approval_doc", "parent_org_code"]),
        "staff": pd.DataFrame(staff, columns=["id_number", "name", "org_code"]),
        "payroll": pd.DataFrame({"id_number": [ghost], "name": ["幽灵"], "org_code": [first[0]],
                                 "pay_month": ["2014-03"]}),
        "findings": pd.DataFrame(findings, columns=["rule_id", "severity", "region_code", "org_code", "id_number"]
                                 ).assign(run_id=1),
    }
    with workspace.writer(path) as con:
        for table, frame in frames.items():
            con.register("_rows", frame)
            cols = ", ".join(frame.columns)
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _rows")
            con.unregister("_rows")
        con.execute("INSERT INTO finding_runs VALUES (1, now(), now(), DATE '2014-03-31', 'all')")
    return path


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("sampling") / "ws.duckdb")


def test_frame_universes_and_weights(small_ws):
    con = workspace.reader(small_ws)
    frame = sampling.sampling_frame(con)
    county = frame[frame["universe"] == "county"]
    assert set(county["unit_code"]) == set(regions.county_level()["region_code"])
    assert county.groupby("stratum").size().sum() == 87
    prov = frame[frame["universe"] == "provincial"]
    # 8 provincial orgs: one out of scope, one a subordinate -> 6 provincial units
    assert len(prov) == 6
    # staff of the subordinate counts for its parent unit
    staff = con.execute("SELECT org_code, count(*) n FROM staff GROUP BY 1").df().set_index("org_code")["n"]
    orgs = con.execute("SELECT * FROM orgs WHERE region_code = '620000' ORDER BY org_code").df()
    sub = orgs[orgs["parent_org_code"].notna()].iloc[0]
    parent_row = prov.set_index("unit_code").loc[sub["parent_org_code"]]
    assert parent_row["staff"] == staff[sub["parent_org_code"]] + staff[sub["org_code"]]
    # weights: 1 + 100 × Σ severity weight / staff, recomputed independently for one county
    f = con.execute("SELECT * FROM findings").df()
    code = county.sort_values("risk_score").iloc[-1]["unit_code"]
    pts = f[f["region_code"] == code]["severity"].map(sampling.SEVERITY_WEIGHTS).sum()
    n_staff = con.execute("SELECT count(*) FROM staff s JOIN orgs o USING (org_code) WHERE o.region_code = ?",
                          [code]).fetchone()[0]
    assert county.set_index("unit_code").loc[code, "weight"] == pytest.approx(1 + 100 * pts / n_staff)
    assert county.set_index("unit_code").loc[code, "n_critical_findings"] == (
        (f["region_code"] == code) & (f["severity"] == "critical")).sum()
    con.close()


def test_plan_persons_cover_critical_and_sizes(small_ws):
    con = workspace.reader(small_ws)
    plan = sampling.draw_plan(con, seed=11, force_critical=True)
    f = con.execute("SELECT * FROM findings WHERE severity = 'critical'").df()
    picked = plan.picked
    # every unit with a critical finding was forced in
    crit_units = set(f["region_code"]) & set(picked["unit_code"]) | set(
        plan.units.loc[plan.units["n_critical_findings"] > 0, "unit_code"])
    assert crit_units <= set(picked["unit_code"])
    # every critical person of a picked county is in the person sample, including the ghost
    in_picked = f[f["region_code"].isin(picked["unit_code"])]
    chosen = set(zip(plan.persons["org_code"], plan.persons["id_number"], strict=True))
    assert set(zip(in_picked["org_code"], in_picked["id_number"], strict=True)) <= chosen
    assert "幽灵" in set(plan.persons["name"])
    # the random part per unit matches the attribute-sampling size of its population, capped
    for _, row in plan.sizes.iterrows():
        got = ((plan.persons["unit_code"] == row["unit_code"]) & (plan.persons["stratum"] == "random")).sum()
        assert got == row["n_random"] == min(row["n_rest"], sampling.attribute_sample_size(
            0.95, 0.05, 0, row["n_rest"]))
    assert plan.persons["sample_no"].is_unique
    # teams: counties go to the team that inspects their city, never their own city
    county = picked[picked["universe"] == "county"]
    assert (county["team_region"] != county["stratum"]).all()
    con.close()


def fill_workbook(path: Path, plan: pd.DataFrame, absent: set[int]) -> None:
    """Fill the result column as an inspector would (openpyxl): 不在岗 for sample numbers in ``absent``."""
    wb = openpyxl.load_workbook(path)
    header = {c.name: c.header for c in contract.ONSITE.columns}
    for ws in wb.worksheets:
        cols = [c.value for c in ws[1]]
        if header["sample_no"] not in cols:
            continue
        no, res, who = (cols.index(header[k]) + 1 for k in ("sample_no", "onsite_result", "inspector"))
        for r in range(2, ws.max_row + 1):
            v = ws.cell(r, no).value
            if v is None:
                continue
            ws.cell(r, res).value = "不在岗" if int(v) in absent else "在岗"
            ws.cell(r, who).value = "=HYPERLINK(\"x\")" if r == 2 else "王检查"
    wb.save(path)


def load_onsite(ws: Path, book: Path) -> None:
    """Take the returned workbook back with ``workbench intake`` (team sheets recognised by their headers)."""
    assert cli.main(["intake", str(book), "--workspace", str(ws)]) == 0


def test_cli_round_trip(small_ws, tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    ws.write_bytes(small_ws.read_bytes())
    out = tmp_path / "out"
    assert cli.main(["sample", "--workspace", str(ws), "--seed", "5", "--force-critical", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "P001-S5" in printed
    con = duckdb.connect(str(ws), read_only=True)
    persons = con.execute("SELECT * FROM sample_persons").df()
    units = con.execute("SELECT * FROM sample_units WHERE picked").df()
    assert con.execute("SELECT count(*) FROM sample_rotation").fetchone()[0] == 14
    con.close()
    book = out / f"{contract.ONSITE_BOOK}_P001-S5.xlsx"
    wb = openpyxl.load_workbook(book)
    team_sheets = [s for s in wb.worksheets if s.title != "代码表"]
    assert {s.title for s in team_sheets} == set(units["team_name"])
    headers = [c.header for c in contract.ONSITE.columns]
    rows = 0
    for s in team_sheets:
        assert [c.value for c in s[1]] == headers
        ids_col = headers.index(contract.ONSITE.column("id_number").header) + 1
        for r in range(2, s.max_row + 1):
            assert "*" in s.cell(r, ids_col).value  # masked
        assert s.data_validations.dataValidation  # drop-down on the result column
        rows += s.max_row - 1
    assert rows == len(persons)
    # fill in: two absent in the first unit's random part, the rest present
    first = persons[persons["stratum"] == "random"].groupby("unit_code")["sample_no"].apply(list).iloc[0]
    absent = set(first[:2])
    fill_workbook(book, persons, absent)
    load_onsite(ws, book)
    assert cli.main(["sample", "--workspace", str(ws), "--evaluate"]) == 0
    printed = capsys.readouterr().out
    assert "通过" in printed and "不通过" in printed
    con = duckdb.connect(str(ws), read_only=True)
    acc = con.execute("SELECT * FROM sample_acceptance").df().set_index("unit_code")
    con.close()
    unit = persons.loc[persons["sample_no"] == min(absent), "unit_code"].iloc[0]
    row = acc.loc[unit]
    assert row["deviations"] == 2 and row["checked"] == row["n_random"]
    assert row["verdict"] == contract.ACCEPTANCE_VERDICTS["fail"]
    others = acc.drop(index=[unit, contract.ALL_UNITS])
    assert (others["deviations"] == 0).all()
    # units sized by the binomial table pass with no deviation; the total row adds up
    assert acc.loc[contract.ALL_UNITS, "deviations"] == 2
    assert acc.loc[contract.ALL_UNITS, "checked"] == (persons["stratum"] == "random").sum()
    assert row["projected_absent"] == pytest.approx(2 / row["checked"] * row["n_rest"])
    assert math.isclose(row["rate"], 2 / row["checked"])


def test_cli_second_plan_avoids_last_and_errors(small_ws, tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    ws.write_bytes(small_ws.read_bytes())
    out = tmp_path / "out"
    assert cli.main(["sample", "--workspace", str(ws), "--seed", "1", "--out", str(out)]) == 0
    assert cli.main(["sample", "--workspace", str(ws), "--seed", "1", "--avoid-last", "--no-mutual",
                     "--out", str(out)]) == 0
    con = duckdb.connect(str(ws), read_only=True)
    rot = con.execute("SELECT * FROM sample_rotation").df()
    con.close()
    first = set(zip(*(rot[rot["plan_id"] == "P001-S1"][c] for c in ("team_region", "inspected_region")),
                    strict=True))
    second = set(zip(*(rot[rot["plan_id"] == "P002-S1"][c] for c in ("team_region", "inspected_region")),
                     strict=True))
    assert not first & second
    assert not {(b, a) for a, b in second} & second
    capsys.readouterr()
    assert cli.main(["sample", "--workspace", str(ws), "--seed", "1", "--tolerable", "0.01", "--expected",
                     "0.02", "--out", str(out)]) == 2
    assert "预期偏差率" in capsys.readouterr().err
    assert cli.main(["sample", "--workspace", str(tmp_path / "none.duckdb"), "--evaluate"]) == 2
    assert "工作区不存在" in capsys.readouterr().err


def test_last_rotation_file(small_ws, tmp_path):
    ws = tmp_path / "ws.duckdb"
    ws.write_bytes(small_ws.read_bytes())
    cities = regions.regions().query("level == 'city'")["region_code"].tolist()
    last = pd.DataFrame({"检查组代码": cities, "被检查地区代码": cities[1:] + cities[:1]})
    named = last.assign(**{"被检查地区代码": last["被检查地区代码"].map(regions.name_of)})
    named.to_csv(tmp_path / "named.csv", index=False, encoding="utf-8-sig")
    assert sampling_cli.read_rotation(tmp_path / "named.csv").equals(
        last.rename(columns={"检查组代码": "team_region", "被检查地区代码": "inspected_region"}))
    (tmp_path / "bad.csv").write_text("甲,乙\n1,2\n", encoding="utf-8")
    with pytest.raises(sampling.SamplingError, match="缺少列：检查组代码、被检查地区代码"):
        sampling_cli.read_rotation(tmp_path / "bad.csv")
    path = tmp_path / "last.csv"
    last.to_csv(path, index=False, encoding="utf-8-sig")
    res = sampling_cli.make_plan(ws, 3, tmp_path / "o", last_rotation=path)
    got = set(zip(res["plan"].rotation["team_region"], res["plan"].rotation["inspected_region"], strict=True))
    assert not got & set(zip(last["检查组代码"], last["被检查地区代码"], strict=True))


def test_command_line_entry_point(small_ws, tmp_path):
    ws = tmp_path / "ws.duckdb"
    ws.write_bytes(small_ws.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "sample", "--workspace", str(ws), "--evaluate"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "还没有抽查计划" in proc.stderr


def test_plan_is_reproducible_and_extendable(small_ws):
    con = workspace.reader(small_ws)
    try:
        a = sampling.draw_plan(con, seed=21, ratio=0.4)
        b = sampling.draw_plan(con, seed=21, ratio=0.4)
        c = sampling.draw_plan(con, seed=21, ratio=0.7)
        d = sampling.draw_plan(con, seed=22, ratio=0.4)
    finally:
        con.close()
    assert a.units.equals(b.units) and a.persons.equals(b.persons) and a.rotation.equals(b.rotation)
    assert set(a.picked["unit_code"]) < set(c.picked["unit_code"])
    assert set(a.picked["unit_code"]) != set(d.picked["unit_code"])
    # the persons drawn in a unit kept from the smaller plan are the same people
    key = ["unit_code", "org_code", "id_number"]
    pa = set(a.persons[key].itertuples(index=False))
    pc = set(c.persons[c.persons["unit_code"].isin(a.picked["unit_code"])][key].itertuples(index=False))
    assert pa == pc
    for plan, ratio in ((a, 0.4), (c, 0.7)):
        per = plan.units.groupby(["universe", "stratum"]).agg(n=("picked", "size"), k=("picked", "sum"))
        assert (per["k"] == [math.ceil(round(ratio * n, 9)) for n in per["n"]]).all()


def test_rows_that_do_not_fit_the_plan_are_reported(small_ws, tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    ws.write_bytes(small_ws.read_bytes())
    res = sampling_cli.make_plan(ws, 8, tmp_path / "out")
    book = Path(res["workbooks"]["onsite"])
    fill_workbook(book, res["plan"].persons, set())
    wb = openpyxl.load_workbook(book)
    sheet = wb.worksheets[0]
    cols = [c.value for c in sheet[1]]
    no_col = cols.index(contract.ONSITE.column("sample_no").header) + 1
    org_col = cols.index(contract.ONSITE.column("org_code").header) + 1
    sheet.cell(2, no_col).value = 999_999  # unknown sample number
    sheet.cell(3, org_col).value = uscc(424242, "620102")  # a different unit than planned
    wb.save(book)
    load_onsite(ws, book)
    capsys.readouterr()
    assert cli.main(["sample", "--workspace", str(ws), "--evaluate"]) == 0
    err = capsys.readouterr().err
    assert f"工作表“{sheet.title}”第2行“抽样序号”" in err and "999999不在抽查计划" in err
    assert f"工作表“{sheet.title}”第3行“机构代码”" in err and "请核对是否错行" in err


def test_sql_and_pandas_draws_agree(small_ws):
    con = workspace.reader(small_ws)
    try:
        f = sampling.latest_findings(con)
        units = sampling.select_units(sampling.sampling_frame(con, f), 0.4, 3)
        pop = sampling.person_frame(con, units[units["picked"]], f, seed=3)
    finally:
        con.close()
    keys = sampling.uniform_keys(3, pop["unit_code"], pop["org_code"], pop["id_number"])
    assert np.allclose(pop["u"].to_numpy(), keys, rtol=0, atol=0)
    sizes = sampling.person_sizes(pop, 0.95, 0.05, 0.0)
    a = sampling.draw_persons(pop, sizes, 3)
    b = sampling.draw_persons(pop.drop(columns="u"), sizes, 3)
    assert a.drop(columns="u").equals(b.drop(columns="u"))
