"""Figures draw exactly the numbers of the summary frames they are given, in Chinese, with no remote assets."""

from __future__ import annotations

import re

import pytest
from test_summaries import build_hand_ws

from workbench import contract, figures, summaries, workspace

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path = tmp_path_factory.mktemp("fig") / "ws.duckdb"
    build_hand_ws(path)
    c = workspace.reader(path)
    yield c
    c.close()


def test_findings_by_rule_bar(con):
    df = summaries.findings_by_rule(con)
    fig = figures.findings_by_rule_bar(df)
    assert sum(sum(t.x) for t in fig.data) == df["findings"].sum() > 0
    assert {t.name for t in fig.data} == {contract.SEVERITY_ZH[s] for s in df["severity"].unique()}
    for t in fig.data:
        sev = next(s for s, zh in contract.SEVERITY_ZH.items() if zh == t.name)
        assert t.marker.color == figures.SEVERITY_COLORS[sev]
        part = df[df["severity"] == sev]
        assert list(t.x) == part["findings"].tolist()
        assert all(rid in label for rid, label in zip(part["rule_id"], t.y, strict=True))
    assert CJK.search(fig.layout.title.text)


def test_findings_by_severity_and_region(con):
    sev = summaries.findings_by_severity(con)
    fig = figures.findings_by_severity_bar(sev)
    assert list(fig.data[0].y) == sev["findings"].tolist()
    assert list(fig.data[0].x) == [contract.SEVERITY_ZH[s] for s in contract.SEVERITIES]
    cities = summaries.children_rows(summaries.findings_by_region(con))
    fig = figures.findings_by_region_bar(cities)
    assert list(fig.data[0].x) == cities["name"].tolist()
    stacked = [sum(v) for v in zip(*(t.y for t in fig.data), strict=True)]
    assert stacked == cities["findings"].tolist()


@pytest.mark.parametrize("kind", ["sunburst", "treemap"])
def test_findings_hierarchy(con, kind):
    df = summaries.findings_by_region(con)
    fig = figures.findings_hierarchy(df, kind)
    t = fig.data[0]
    assert t.type == kind and t.branchvalues == "total"
    vals = dict(zip(t.ids, t.values, strict=True))
    parents = dict(zip(t.ids, t.parents, strict=True))
    assert vals["620000"] == len(summaries.findings_list(con)) and parents["620000"] == ""
    own = summaries.findings_by_region(con, rollup=False).set_index("region_code")["findings"]
    for code, v in vals.items():  # a wedge = its own findings + its children's wedges
        assert v == own[code] + sum(vals[c] for c, p in parents.items() if p == code)
    assert 0 not in vals.values()


def test_three_way_bar(con):
    df = summaries.children_rows(summaries.three_way(con))
    fig = figures.three_way_bar(df)
    assert [t.name for t in fig.data] == ["核定编制数", "实有人数", "财政供养人数"]
    for t, col in zip(fig.data, ["quota", "staff", "paid"], strict=True):
        assert list(t.y) == df[col].tolist()
    assert "2014-03" in fig.layout.title.text


def test_kind_and_leader_bars_pick_one_region(con):
    est = summaries.establishment_by_kind(con, "620100")
    fig = figures.establishment_by_kind_bar(est)
    own = est[est.region_code == "620100"]
    assert list(fig.data[0].x) == list(contract.EST_KINDS)
    assert list(fig.data[0].y) == own["quota"].tolist() and list(fig.data[1].y) == own["staff"].tolist()
    assert fig.layout.title.text.startswith("兰州市")
    fig = figures.establishment_by_kind_bar(est, "620102")
    assert list(fig.data[1].y) == est.loc[est.region_code == "620102", "staff"].tolist()
    ldr = summaries.leader_posts(con)
    fig = figures.leader_posts_bar(ldr)
    assert list(fig.data[0].x) == ["正职", "副职"]
    assert list(fig.data[1].y) == ldr.loc[ldr.region_code == "620000", "held"].tolist()


def test_four_clears_heatmap(con):
    df = summaries.four_clears(con, "620100")
    fig = figures.four_clears_heatmap(df)
    t = fig.data[0]
    assert list(t.x) == list(contract.CLEARS)
    regions_in = list(dict.fromkeys(df["region_code"]))
    assert len(t.y) == len(regions_in)
    for i, code in enumerate(regions_in):
        for j, clear in enumerate(contract.CLEARS):
            r = df[(df.region_code == code) & (df.clear == clear)].iloc[0]
            assert t.z[i][j] == figures.STATUS_Z[r.status]
            assert t.text[i][j] == f"{r.status}<br>{r.findings}项"


def test_data_figures(con):
    rows = summaries.children_rows(summaries.rows_by_region(con))
    fig = figures.rows_by_region_bar(rows)
    assert {t.name for t in fig.data} >= {"机构", "人员", "财政发放"}
    staff = next(t for t in fig.data if t.name == "人员")
    assert list(staff.y) == rows["staff"].tolist()
    cov = summaries.source_coverage(con)
    fig = figures.source_coverage_bar(cov)
    assert list(fig.data[0].x) == ["财政发放", "公安核查", "人社信息", "组织部门"]
    assert fig.data[0].y[1] == pytest.approx(90.0)
    rej = summaries.rejects_summary(con)
    fig = figures.rejects_bar(rej)
    assert sum(fig.data[0].x) == rej["rejects"].sum()
    inst = summaries.children_rows(summaries.institutions(con))
    fig = figures.institutions_bar(inst)
    assert list(fig.data[1].y) == inst["actual_units"].tolist()


def test_empty_frames_say_so(con):
    empty = summaries.findings_by_rule(con).iloc[0:0]
    for fig in (figures.findings_by_rule_bar(empty), figures.findings_sunburst(summaries.findings_by_region(
            con).assign(findings=0)), figures.rejects_bar(summaries.rejects_summary(con, "620200")),
            figures.four_clears_heatmap(summaries.four_clears(con).iloc[0:0])):
        assert fig.layout.annotations[0].text == "暂无数据"
        assert CJK.search(fig.layout.title.text)


def test_every_builder_chinese_and_offline(con):
    built = [
        figures.findings_by_rule_bar(summaries.findings_by_rule(con)),
        figures.findings_by_severity_bar(summaries.findings_by_severity(con)),
        figures.findings_treemap(summaries.findings_by_region(con)),
        figures.three_way_bar(summaries.three_way(con)),
        figures.four_clears_heatmap(summaries.four_clears(con)),
        figures.leader_posts_bar(summaries.leader_posts(con)),
    ]
    for fig in built:
        assert CJK.search(fig.layout.title.text)
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            if axis.title.text:
                assert CJK.search(axis.title.text)
        html = fig.to_html(include_plotlyjs=False, full_html=False)
        assert "cdn.plot.ly" not in html and "<script src=" not in html
