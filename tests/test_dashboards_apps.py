"""The dashboard apps in-process (no browser): numbers agree with summaries and plain SQL, progress by stage,
the person drill-down masks IDs, the server's command line and the notebooks' shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from workbench import contract, dashboards, regions, serve, summaries
from workbench import workspace as wsmod

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ws_copy(sample_ws, tmp_path_factory) -> Path:
    """A private copy of the sample province (tests here may change it)."""
    out = tmp_path_factory.mktemp("dashapps") / "workspace.duckdb"
    shutil.copyfile(sample_ws, out)
    wsmod.publish(out)
    return out


def _sql(ws: Path, sql: str, params=None):
    con = wsmod.connect(ws, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_overview_headline_equals_summaries(ws_copy):
    app = dashboards.OverviewApp(ws_copy)
    con = wsmod.reader(ws_copy)
    try:
        for _, code in dashboards.city_options():
            want = summaries.headline(con, code or None).iloc[0]
            got = app.data.headline(code or None)
            assert {k: int(want[k]) for k in got} == got, code
    finally:
        con.close()


def test_overview_figures_follow_the_city(ws_copy):
    app = dashboards.OverviewApp(ws_copy)
    city = "620100"
    total = app.data.headline(city)["findings"]
    figs = app.data.figures(city)
    sun = figs["hierarchy"].data[0]
    assert sun.ids[0] == city and int(sun.values[0]) == total
    assert sum(int(sum(t.x)) for t in figs["rules"].data) == total
    for fig in figs.values():
        assert fig.layout.title.text.startswith(regions.name_of(city))
    app.update(city)
    assert f"{app.data.headline(city)['staff']:,}" in app.cards["staff"].value
    assert app.slots["progress"].value.count("<tr>") == 1 + len(regions.children(city)) + 1  # head, 市本级, counties
    assert "wb-scope-620100" in app.root._dom_classes
    out = app.slots["rules"].outputs[0]
    assert out["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"].startswith("兰州市")


def test_overview_switches_scopes_without_adding_widgets(ws_copy):
    """A scope change replaces the city group's outputs or toggles the province group: the page keeps its widgets."""
    app = dashboards.OverviewApp(ws_copy)
    title = lambda slots: slots["rules"].outputs[0]["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"]  # noqa: E731
    province = regions.name_of(regions.province_code())
    widgets = {id(v) for views in app.groups.values() for v in views.values()}
    for city in ("620100", "620500", None):
        app.update(city)
        assert title(app.slots).startswith(regions.name_of(city) if city else province)
        shown = [g for g, views in app.groups.items() if views["rules"].layout.display != "none"]
        assert shown == ["city" if city else "province"]
        assert all("wb-current" in v._dom_classes for v in app.slots.values())
    assert title(app.groups["city"]).startswith(regions.name_of("620500"))  # kept, hidden
    assert {id(v) for views in app.groups.values() for v in views.values()} == widgets


def test_progress_by_stage_follows_what_is_loaded(ws_copy, tmp_path):
    ws = tmp_path / "ws.duckdb"
    shutil.copyfile(ws_copy, ws)
    county = "620102"
    with wsmod.writer(ws) as con:  # this county's payroll never arrived
        con.execute("DELETE FROM payroll WHERE org_code IN (SELECT org_code FROM orgs WHERE region_code = ?)",
                    [county])
    con = wsmod.reader(ws)
    try:
        flags = dashboards.progress_flags(con)
    finally:
        con.close()
    rows = dashboards.progress_rows(flags, None).set_index("name")
    city = regions.name_of("620100")
    members = [c for c in regions.descendants("620100")
               if c in set(regions.county_level()["region_code"])
               or _sql(ws, "SELECT count(*) FROM orgs WHERE region_code = ?", [c])[0][0] > 0]
    with_pay = sum(
        _sql(ws, "SELECT count(*) FROM payroll p JOIN orgs o USING (org_code) WHERE o.region_code = ?", [c])[0][0] > 0
        for c in members)
    assert rows.loc[city, "joint_finance_of"] == len(members)
    assert rows.loc[city, "joint_finance_n"] == with_pay == len(members) - 1
    assert rows.loc[city, "summary"] == rows.loc[city, "self_check"]  # a rule run exists
    assert rows.loc[city, "sample"] == 0  # no sampling plan yet
    detail = dashboards.progress_rows(flags, "620100").set_index("name")
    assert not bool(detail.loc[regions.name_of(county), "joint_finance"])
    table = dashboards.progress_html(detail.reset_index())
    row = next(r for r in table.split("<tr>") if f"<th>{regions.name_of(county)}</th>" in r)
    import re

    states = dict(zip(dashboards.STAGES, re.findall(r'class="wb-stage-(\w+)"', row), strict=True))
    assert states["joint_finance"] == "none" and states["joint_police"] == states["self_check"] == "done"
    assert states["sample"] == "none" and states["results"] == "na"  # no sampling plan yet


def test_explorer_filters_and_person_records_are_masked(ws_copy):
    app = dashboards.ExplorerApp(ws_copy)
    run = _sql(ws_copy, "SELECT max(run_id) FROM finding_runs")[0][0]
    total = _sql(ws_copy, "SELECT count(*) FROM findings WHERE run_id = ?", [run])[0][0]
    assert len(app.filtered()) == total
    app.severity.value = "critical"
    crit = _sql(ws_copy, "SELECT count(*) FROM findings WHERE run_id = ? AND severity = 'critical'", [run])[0][0]
    assert len(app.filtered()) == crit and f"<b>{crit:,}</b>" in app.count.value
    app.rule.value = "PER_DUPLICATE"
    dup = app.filtered()["id_number"].iloc[0]
    n_staff = _sql(ws_copy, "SELECT count(*) FROM staff WHERE id_number = ?", [dup])[0][0]
    assert n_staff >= 2
    con = wsmod.reader(ws_copy)
    try:
        recs = dashboards.person_records(con, dup)
    finally:
        con.close()
    assert set(recs) == {"人员", "编外人员", "财政发放", "公安核查", "人社信息", "组织部门"}
    assert len(recs["人员"]) == n_staff
    shown = recs["人员"][contract.STAFF.column("id_number").header]
    assert (shown == dup[:6] + "*" * 8 + dup[-4:]).all()
    accounts = {a for (a,) in _sql(ws_copy, "SELECT account FROM payroll WHERE id_number = ? AND account <> ''", [dup])}
    shown_accounts = set(recs["财政发放"][contract.PAYROLL.column("account").header])
    assert accounts and not accounts & shown_accounts  # the pay account is masked too
    assert all(set(a[6:-4]) == {"*"} for a in shown_accounts)
    # choosing the person from the page's drop-down fills the panel, masked
    idx = app._page_ids.index(dup)
    app.person_select.value = idx
    assert dup not in app.person_panel.value and dup[:6] + "********" + dup[-4:] in app.person_panel.value
    assert "wb-person-staff" in app.person_panel.value
    assert dup not in json.dumps(list(app.person_select.options), ensure_ascii=False)


def test_explorer_unit_panel(ws_copy):
    app = dashboards.ExplorerApp(ws_copy)
    app.rule.value = "EST_OVER"
    org = app.filtered()["org_code"].iloc[0]
    app.unit.value = org
    kind = app.filtered()["item"].iloc[0]
    quota_col = contract.EST_KINDS[kind]
    quota, = _sql(ws_copy, f"SELECT {quota_col} FROM orgs WHERE org_code = ?", [org])[0]
    actual, = _sql(ws_copy, "SELECT count(DISTINCT id_number) FROM staff WHERE org_code = ? AND est_kind = ?",
                   [org, kind])[0]
    assert actual > quota
    assert f"<td class=\"\">{kind}</td><td class=\"\">{quota}</td><td class=\"\">{actual}</td>" in app.unit_panel.value


def test_resolve_workspace(monkeypatch, tmp_path):
    monkeypatch.delenv(dashboards.WORKSPACE_ENV, raising=False)
    with pytest.raises(ValueError, match="未指定工作区"):
        dashboards.resolve_workspace(None)
    monkeypatch.setenv(dashboards.WORKSPACE_ENV, str(tmp_path / "a.duckdb"))
    assert dashboards.resolve_workspace(None) == tmp_path / "a.duckdb"
    assert dashboards.resolve_workspace(tmp_path / "b.duckdb") == tmp_path / "b.duckdb"


def test_server_command_line_and_urls(tmp_path):
    argv = serve.voila_argv(serve.NOTEBOOKS, 8866, "127.0.0.1")
    assert "--VoilaConfiguration.strip_sources=True" in argv
    assert "--VoilaConfiguration.show_tracebacks=False" in argv
    assert "--Voila.token=" in argv and "--Voila.ip=127.0.0.1" in argv
    assert "--VoilaConfiguration.preheat_kernel=True" in argv
    assert "--VoilaConfiguration.preheat_kernel=True" not in serve.voila_argv(serve.NOTEBOOKS, 1, "::1", preheat=False)
    assert "--template=wb" in serve.voila_argv(serve.NOTEBOOKS, 1, "::1", template="wb")
    root = serve.offline_template(tmp_path / "tpl")
    page = (root / "voila" / "templates" / serve.OFFLINE_TEMPLATE / "index.html.j2").read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in page and "extends" in page  # the lab page without CDN stylesheets
    assert serve.is_local("127.0.0.1") and serve.is_local("localhost") and serve.is_local("::1")
    assert not serve.is_local("0.0.0.0") and not serve.is_local("192.168.1.5")
    links = serve.urls("0.0.0.0", 9000, "abc")
    assert links["overview"] == "http://0.0.0.0:9000/voila/render/overview.ipynb?token=abc"
    assert serve.resolve_token("127.0.0.1") == "" and serve.resolve_token("localhost", "t0k") == "t0k"
    generated = serve.resolve_token("0.0.0.0")
    assert len(generated) >= 24 and generated != serve.resolve_token("192.168.1.5")
    with pytest.raises(ValueError, match="令牌"):
        serve.start(_tiny_ws(tmp_path), host="0.0.0.0", token="")
    with pytest.raises(FileNotFoundError, match="工作区不存在"):
        serve.prepare_workspace(tmp_path / "missing.duckdb")


def _tiny_ws(tmp_path: Path) -> Path:
    ws = tmp_path / "tiny.duckdb"
    wsmod.connect(ws).close()
    assert not wsmod.snapshot_path(ws).exists()
    serve.prepare_workspace(ws)
    assert wsmod.snapshot_path(ws).exists()  # published so that readers never lock the workspace
    return ws


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS.values()))
def test_notebooks_build_and_show_the_app(name):
    """Thinness is checked for every notebook in test_notebooks_thin.py; here: the dashboards' own shape."""
    nb = nbformat.read(ROOT / "notebooks" / "dashboards" / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "workspace = None" in code[0].source
    last = [line for line in code[-1].source.splitlines() if line.strip()]
    assert len(last) == 2 and last[0].startswith("app = ") and last[1] == "app.show()"


@pytest.mark.slow
def test_server_with_token_refuses_visitors_without_it(ws_copy, tmp_path):
    """A real server started by the CLI with a token: the page needs it, and the printed URL carries it."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "dashboard", "--workspace", str(ws_copy),
                                 "--port", str(port), "--token", "s3cret-token", "--no-preheat"],
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "驾驶舱已启动" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        out = log.read_text()
        assert f"http://127.0.0.1:{port}/voila/render/overview.ipynb?token=s3cret-token" in out
        url = f"http://127.0.0.1:{port}/voila/render/explorer.ipynb"
        try:  # without the token: sent to the login page (or refused)
            with urllib.request.urlopen(url, timeout=30) as r:
                assert "/login" in r.geturl()
        except urllib.error.HTTPError as err:
            assert err.code in (401, 403)
        with urllib.request.urlopen(url + "?token=s3cret-token", timeout=120) as r:
            page = r.read().decode()
        assert r.status == 200 and "from workbench" not in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_progress_sample_drawn_and_results_returned(ws_copy, tmp_path):
    """After a sampling plan: every county-level region is covered; 结果返回 counts picked regions with
    实地核查 rows (one picked county's inspectors sent theirs back)."""
    from workbench import sampling

    ws = tmp_path / "ws.duckdb"
    shutil.copyfile(ws_copy, ws)
    with wsmod.writer(ws) as con:
        sampling.init_tables(con)
        sampling.store_plan(con, sampling.draw_plan(con, seed=11, ratio=0.4))
        picked = [r[0] for r in con.execute(
            "SELECT unit_code FROM sample_units WHERE universe = 'county' AND picked ORDER BY unit_code").fetchall()]
        back = next(c for c in picked if con.execute(
            "SELECT count(*) FROM orgs WHERE region_code = ?", [c]).fetchone()[0] > 0)
        org = con.execute("SELECT min(org_code) FROM orgs WHERE region_code = ?", [back]).fetchone()[0]
        con.execute("INSERT INTO onsite_results (plan_id, org_code, id_number, sample_no, onsite_result)"
                    " VALUES ('p', ?, '620102********1234', 1, '在岗')", [org])
    con = wsmod.reader(ws)
    try:
        flags = dashboards.progress_flags(con).set_index("region_code")
    finally:
        con.close()
    county_level = regions.county_level()["region_code"]
    assert flags.loc[county_level, "sample"].all()
    assert sorted(flags.index[flags["picked"] & flags.index.isin(county_level)]) == picked
    assert flags.loc[back, "results"] and flags["results"].sum() == 1
    city = regions.regions().set_index("region_code").loc[back, "city_code"]
    rows = dashboards.progress_rows(flags.reset_index(), None).set_index("name")
    row = rows.loc[regions.name_of(city)]
    assert row["results_n"] == 1
    assert row["results_of"] == sum(c in picked for c in regions.descendants(city))
