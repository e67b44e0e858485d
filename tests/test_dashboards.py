"""Browser tests of the Voila dashboards: a real ``workbench dashboard`` server, real Chromium via Playwright.

The expected numbers are computed here with plain SQL on the workspace, independently of workbench.summaries.
Without a browser the tests skip with a loud reason, except under CI (env CI set), where they fail.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from workbench import contract, ids, regions
from workbench import workspace as wsmod

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
TIMEOUT_MS = 120_000


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _no_browser(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI: browser tests cannot run: {reason}")
    pytest.skip(f"!!! BROWSER TESTS SKIPPED: {reason} (install Debian's chromium and the playwright package)")


# ------------------------------------------------------------------------------------------ workspace
def _uscc(region: str, n: int) -> str:
    first = f"12{region}{n:09d}"
    return first + ids.uscc_check_char(first)


def _pid(region: str, birth: dt.date, seq: int) -> str:
    first = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first + ids.id_check_char(first)


def build_small_workspace(path: Path) -> Path:
    """A hand-made province (used until synth + intake are available): 3 cities, provincial units,
    over-quota units, a deceased person, a ghost on the payroll, unconfirmed leaders."""
    from workbench import rules

    regs = ["620000", "620100", "620102", "620103", "620200", "620500", "620502", "620503"]
    orgs, staff, pay, police, hr, od = [], [], [], [], [], []
    n = 0
    for r in regs:
        for k in range(2):
            n += 1
            code, quota = _uscc(r, n), 3 + (n * 7) % 6
            orgs.append(dict(org_code=code, org_name=f"{regions.name_of(r)}测试单位{k + 1}", region_code=r,
                             org_category="政府机关", psi_class=None, org_rank="正科级", parent_org_code=None,
                             approval_doc=None if n % 5 == 0 else f"甘编发〔2010〕{n}号", funding="财政全额拨款",
                             approved_units=3, actual_units=3 + (n % 4 == 0), quota_admin=quota, quota_legal=0,
                             quota_inst=0, quota_worker=1, approved_chief=1, approved_deputy=1))
            for j in range(quota + (1 if n % 3 == 0 else -1)):
                birth = dt.date(1960 + (n * 13 + j * 7) % 30, 1 + (n + j) % 12, 1 + (n * j) % 28)
                pid = _pid("620102" if r == "620000" else r, birth, n * 20 + j)
                level = "正职" if j == 0 else "副职" if j in (1, 2) else "无"
                staff.append(dict(id_number=pid, name=f"测试{n}-{j}", sex=None, birth_date=None, org_code=code,
                                  est_kind="行政编制", staff_class="公务员", post="科员", leader_level=level,
                                  entry_date=dt.date(2005, 1, 1)))
                if j != 4:
                    for month in ("2014-02", "2014-03"):
                        pay.append(dict(id_number=pid, name=f"测试{n}-{j}", org_code=code, account=f"62{n:03d}{j:03d}",
                                        pay_month=month, amount=3000))
                police.append(dict(id_number=pid, name=f"测试{n}-{j}",
                                   police_result="已死亡" if j == 3 and n % 4 == 1 else "一致"))
                hr.append(dict(id_number=pid, name=f"测试{n}-{j}", org_code=code, hr_status="在职"))
                if level != "无" and j != 2:
                    od.append(dict(id_number=pid, name=f"测试{n}-{j}", org_code=code, leader_level=level))
    pay.append(dict(id_number=_pid("620102", dt.date(1980, 1, 1), 999), name="某某", org_code=orgs[2]["org_code"],
                    account="G1", pay_month="2014-03", amount=5000))
    with wsmod.writer(path) as con:
        for sheet, rows in ((contract.ORGS, orgs), (contract.STAFF, staff), (contract.PAYROLL, pay),
                            (contract.POLICE, police), (contract.HR, hr), (contract.ORGDEPT, od)):
            df = pd.DataFrame(rows, columns=list(sheet.names))
            df["_file"], df["_sheet"], df["_row"], df["_load_id"] = "手工.xlsx", sheet.name, range(2, len(df) + 2), 1
            con.register("_df", df)
            con.execute(f'INSERT INTO "{sheet.table}" BY NAME SELECT * FROM _df')
            con.unregister("_df")
    rules.run_check(path)
    return path


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def dash_ws(request, tmp_path_factory) -> Path:
    """A private workspace: a copy of the shared sample province when synth + intake exist, else hand-made."""
    out = tmp_path_factory.mktemp("dash") / "workspace.duckdb"
    if _have("workbench.synth") and _have("workbench.intake"):
        src = Path(request.getfixturevalue("sample_ws"))
        shutil.copyfile(src, out)
        wsmod.publish(out)
        return out
    return build_small_workspace(out)


# ------------------------------------------------------------------------------------------ expected numbers
def expected(ws: Path, city: str | None = None) -> dict[str, int]:
    """Headline numbers by plain SQL: in-scope units, quota, roster persons per unit, paid persons per unit in
    the latest month, latest-run findings per severity — for the province or the units of one city."""
    con = wsmod.connect(ws, read_only=True)
    try:
        like = f"{city[:4]}%" if city else "%"
        unit_region = """
            units AS (
              SELECT c.org_code, COALESCE(o.psi_class, '') <> '生产经营类' AS in_scope,
                     COALESCE(o.region_code, CASE WHEN wb_uscc_valid(c.org_code) THEN substr(c.org_code, 3, 6) END)
                       AS region
              FROM (SELECT org_code FROM orgs UNION SELECT org_code FROM staff UNION SELECT org_code FROM payroll
                    UNION SELECT org_code FROM offstaff) c LEFT JOIN orgs o ON o.org_code = c.org_code)"""
        q = f"""WITH {unit_region}
          SELECT
            (SELECT count(*) FROM orgs WHERE COALESCE(psi_class, '') <> '生产经营类' AND region_code LIKE $p),
            (SELECT COALESCE(sum(COALESCE(quota_admin, 0) + COALESCE(quota_legal, 0) + COALESCE(quota_inst, 0)
                                 + COALESCE(quota_worker, 0)), 0)
               FROM orgs WHERE COALESCE(psi_class, '') <> '生产经营类' AND region_code LIKE $p),
            (SELECT count(*) FROM (SELECT DISTINCT org_code, id_number FROM staff) s JOIN units u USING (org_code)
               WHERE u.in_scope AND COALESCE(u.region, '') LIKE $p),
            (SELECT count(*) FROM (SELECT DISTINCT org_code, id_number FROM payroll
                                   WHERE pay_month = (SELECT max(pay_month) FROM payroll)) s
               JOIN units u USING (org_code) WHERE u.in_scope AND COALESCE(u.region, '') LIKE $p)"""
        units, quota, staff, paid = con.execute(q, {"p": like}).fetchone()
        sev = dict(con.execute(
            """SELECT severity, count(*) FROM findings
               WHERE run_id = (SELECT max(run_id) FROM finding_runs) AND COALESCE(region_code, '') LIKE $p
               GROUP BY severity""", {"p": like}).fetchall())
    finally:
        con.close()
    out = {"units": units, "quota": quota, "staff": staff, "paid": paid, "findings": sum(sev.values())}
    out |= {f"findings_{s}": sev.get(s, 0) for s in contract.SEVERITIES}
    return out


def all_ids(ws: Path) -> set[str]:
    con = wsmod.connect(ws, read_only=True)
    try:
        rows = con.execute("""SELECT id_number FROM staff UNION SELECT id_number FROM payroll
                              UNION SELECT id_number FROM police UNION SELECT id_number FROM hr
                              UNION SELECT id_number FROM orgdept UNION SELECT id_number FROM offstaff""").fetchall()
    finally:
        con.close()
    return {r[0] for r in rows if r[0] and len(r[0]) >= 15}


# ------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    try:
        import psutil
    except ImportError:
        return []
    with contextlib.suppress(Exception):
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    return []


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (Voila then shuts its kernels down), then SIGKILL what is left."""
    kids = _descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    time.sleep(0.5)
    for pid in kids:  # kernels run in their own sessions
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(dash_ws, tmp_path_factory):
    """``workbench dashboard`` on a free localhost port; yields the base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "dashboard", "--workspace", str(dash_ws),
                                 "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dashboard server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(base + "/", timeout=2) as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"dashboard server not ready after 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        _no_browser("no chromium executable found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1600}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []  # requests leaving this machine (the dashboards must work offline)
    pg.on("request", lambda r: None if re.match(r"(https?|wss?)://127\.0\.0\.1[:/]|data:|blob:", r.url)
          else outside.append(r.url))
    pg.outside = outside
    try:
        yield pg
    finally:
        ctx.close()


def shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def number(pg, selector: str) -> int:
    return int(re.sub(r"[^\d-]", "", pg.inner_text(f"{selector} .wb-value")))


def open_overview(pg, base: str) -> None:
    pg.goto(base + "/voila/render/overview.ipynb")
    pg.wait_for_selector(".wb-overview.wb-ready")
    pg.wait_for_function("document.querySelectorAll('.wb-fig.wb-current .js-plotly-plot .gtitle').length >= 3")


def assert_no_source(pg) -> None:
    html = pg.content()
    for needle in ("import workbench", "from workbench", "OverviewApp(", "ExplorerApp(", "app.show()",
                   "Traceback"):
        assert needle not in html, f"source or traceback text on the page: {needle}"


def assert_ids_masked(pg, ws: Path) -> None:
    text = pg.content()
    tokens = set(re.findall(r"[0-9]{17}[0-9Xx]", text))
    leaked = tokens & all_ids(ws)
    assert not leaked, f"unmasked ID numbers on the page: {sorted(leaked)[:3]}"


def busiest_city(ws: Path) -> str:
    con = wsmod.connect(ws, read_only=True)
    try:
        code = con.execute("""SELECT substr(o.region_code, 1, 4) || '00' AS city, count(*) AS n
                              FROM staff s JOIN orgs o USING (org_code)
                              WHERE o.region_code <> '620000' GROUP BY city ORDER BY n DESC, city LIMIT 1""").fetchone()[0]
    finally:
        con.close()
    return code


# ------------------------------------------------------------------------------------------ tests
HEADLINE_KEYS = ("units", "quota", "staff", "paid", "findings", *(f"findings_{s}" for s in contract.SEVERITIES))


def test_overview_headline_and_city_filter(server, page, dash_ws):
    open_overview(page, server)
    shot(page, "overview-province")
    want = expected(dash_ws)
    got = {k: number(page, f".wb-headline-{k.replace('_', '-')}") for k in HEADLINE_KEYS}
    assert got == want
    assert_no_source(page)

    city = busiest_city(dash_ws)
    name = regions.name_of(city)
    page.select_option(".wb-city-filter select", label=name)
    page.wait_for_selector(f".wb-overview.wb-scope-{city}")
    page.wait_for_function(
        f"""Array.from(document.querySelectorAll('.wb-fig.wb-current .gtitle'))
              .filter(e => e.textContent.startsWith('{name}')).length >= 3""")
    progress = page.inner_text(".wb-progress.wb-current")
    assert progress.startswith(name) and regions.name_of(regions.children(city)[0]) in progress
    shot(page, "overview-city")
    want_city = expected(dash_ws, city)
    got_city = {k: number(page, f".wb-headline-{k.replace('_', '-')}") for k in HEADLINE_KEYS}
    assert got_city == want_city
    assert want_city["staff"] < want["staff"]  # the filter really narrowed the figures
    # the sunburst's root is the city with the city's findings; the rule bars add up to the same total
    # (_fullData holds the decoded arrays; .data keeps plotly's base64 "bdata" form)
    root = page.evaluate(f"""() => {{ const d = document.querySelector('.wb-fig-hierarchy.wb-current .js-plotly-plot')._fullData[0];
                                    const i = Array.from(d.ids).indexOf('{city}'); return i < 0 ? null : d.values[i]; }}""")
    if want_city["findings"]:
        assert root == want_city["findings"]
    bars = page.evaluate("""() => document.querySelector('.wb-fig-rules.wb-current .js-plotly-plot')._fullData
                              .reduce((t, tr) => t + Array.from(tr.x || []).reduce((a, b) => a + b, 0), 0)""")
    assert bars == want_city["findings"]

    page.select_option(".wb-city-filter select", label="全省")
    page.wait_for_selector(".wb-overview.wb-scope-all")
    assert number(page, ".wb-headline-staff") == want["staff"]
    # the province's figures are shown again (kept from the first render), the city's hidden
    titles = page.eval_on_selector_all(".wb-fig.wb-current .gtitle", "els => els.map(e => e.textContent)")
    assert len(titles) == 3 and all(t.startswith(regions.name_of(regions.province_code())) for t in titles)
    assert page.eval_on_selector_all(".wb-fig:not(.wb-current) .gtitle",
                                     "els => els.filter(e => e.closest('.wb-fig').offsetParent !== null).length") == 0
    assert_ids_masked(page, dash_ws)
    assert page.outside == [], f"requests to other hosts: {page.outside[:3]}"


def _option_labels(pg, selector: str) -> list[str]:
    return pg.eval_on_selector_all(f"{selector} select option", "els => els.map(e => e.textContent)")


def test_explorer_filters_and_person_drilldown(server, page, dash_ws):
    page.goto(server + "/voila/render/explorer.ipynb")
    page.wait_for_selector(".wb-explorer.wb-ready")
    want = expected(dash_ws)
    count = lambda: int(re.search(r"符合条件的问题\s*([\d,]+)", page.inner_text(".wb-count")).group(1)  # noqa: E731
                        .replace(",", ""))
    assert count() == want["findings"]
    assert_no_source(page)

    page.select_option(".wb-filter-severity select", label=contract.SEVERITY_ZH["critical"])
    shown_count_is = """n => { const m = document.querySelector('.wb-count').innerText.match(/符合条件的问题\\s*([\\d,]+)/);
                               return m !== null && Number(m[1].replace(/,/g, '')) === n; }"""
    page.wait_for_function(shown_count_is, arg=want["findings_critical"])
    assert count() == want["findings_critical"]
    page.select_option(".wb-filter-severity select", label="全部")
    page.wait_for_function(shown_count_is, arg=want["findings"])

    # a person from the table: the drop-down lists masked IDs only
    labels = _option_labels(page, ".wb-person-select")[1:]
    assert labels, "no person on the first page of findings"
    masked = re.split(r"\s*·", labels[0])[0].strip()
    assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", masked), masked
    candidates = [i for i in all_ids(dash_ws) if ids.mask_id(i) == masked]
    page.select_option(".wb-person-select select", label=labels[0])
    page.wait_for_selector(".wb-person-panel .wb-person-staff, .wb-person-panel h4")
    page.wait_for_function(f"document.querySelector('.wb-person-panel').innerText.includes('{masked}')")
    panel = page.inner_text(".wb-person-panel")
    for sheet in ("人员", "编外人员", "财政发放", "公安核查", "人社信息", "组织部门"):
        assert sheet in panel
    if len(candidates) == 1:  # the records shown are that person's, per source
        con = wsmod.connect(dash_ws, read_only=True)
        try:
            n_pay = con.execute("SELECT count(*) FROM payroll WHERE id_number = ?", candidates).fetchone()[0]
        finally:
            con.close()
        assert f"财政发放（{n_pay} 条）" in panel
    shot(page, "explorer-person")
    assert_ids_masked(page, dash_ws)

    # a unit: quota vs actual and leader posts
    units = _option_labels(page, ".wb-filter-unit")[1:]
    page.select_option(".wb-filter-unit select", label=units[0])
    page.wait_for_selector(".wb-unit-panel .wb-unit-kinds")
    text = page.inner_text(".wb-unit-panel")
    assert "核定编制数" in text and "领导职务层次" in text
    shot(page, "explorer-unit")


def test_intake_while_dashboard_open(server, page, dash_ws, tmp_path):
    """A dashboard holding its kernel open never blocks a writer: a new 人员 row loads and the rules run again;
    the open page keeps answering, and a reload (a preheated kernel) shows the newly published snapshot."""
    open_overview(page, server)
    before = expected(dash_ws)
    person = _pid("620102", dt.date(1985, 5, 5), 777)
    con = wsmod.connect(dash_ws, read_only=True)
    try:
        org = con.execute("SELECT min(org_code) FROM orgs WHERE COALESCE(psi_class, '') <> '生产经营类'"
                          " AND quota_admin > 0").fetchone()[0]
    finally:
        con.close()
    t0 = time.monotonic()
    if _have("workbench.intake"):
        from workbench import intake

        csv = tmp_path / "人员补充.csv"
        pd.DataFrame({"公民身份号码": [person], "姓名": ["补充"], "所在机构代码": [org], "编制类型": ["行政编制"],
                      "身份类别": ["公务员"]}).to_csv(csv, index=False)
        summary = intake.intake([csv], dash_ws)
        assert int(summary["loaded"].sum()) == 1, summary
    else:
        with wsmod.writer(dash_ws) as con:
            con.execute("INSERT INTO staff (id_number, name, org_code, est_kind, staff_class)"
                        " VALUES (?, '补充', ?, '行政编制', '公务员')", [person, org])
    from workbench import rules

    rules.run_check(dash_ws)
    assert time.monotonic() - t0 < 120
    after = expected(dash_ws)
    assert after["staff"] == before["staff"] + 1
    # the open page still answers with what it read
    city = busiest_city(dash_ws)
    page.select_option(".wb-city-filter select", label=regions.name_of(city))
    page.wait_for_selector(f".wb-overview.wb-scope-{city}")
    page.select_option(".wb-city-filter select", label="全省")
    page.wait_for_selector(".wb-overview.wb-scope-all")
    assert number(page, ".wb-headline-staff") == before["staff"]
    page.reload()
    page.wait_for_selector(".wb-overview.wb-ready")
    assert number(page, ".wb-headline-staff") == after["staff"]
    assert number(page, ".wb-headline-findings") == after["findings"]
