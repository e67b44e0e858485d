"""notebooks/20-discrepancies.ipynb executed with Papermill: the numbers it shows are the findings table's,
and no full ID number appears unless pii='full'."""

from __future__ import annotations

import json
import re
from pathlib import Path

import papermill as pm
import pytest
import scrapbook as sb
from test_summaries import GHOST, build_hand_ws

from workbench import contract, ids, regions, rules, workspace

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "20-discrepancies.ipynb"
FULL_ID = re.compile(r"(?<![0-9])\d{17}[0-9X](?![0-9])")


def execute(ws: Path, out: Path, **params) -> tuple[dict, str]:
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters={"workspace": str(ws), **params},
                        progress_bar=False, cwd=str(out.parent), kernel_name="python3")
    return sb.read_notebook(str(out)).scraps.data_dict, out.read_text(encoding="utf-8")


def expected(ws: Path, code: str | None) -> dict:
    """Independent counts straight from the findings table of the latest run."""
    con = workspace.reader(ws)
    try:
        f = rules.latest_findings(con)
    finally:
        con.close()
    sits = f["region_code"].where(f["region_code"].isin(regions.codes()), regions.province_code())
    f = f[sits.isin(set(regions.descendants(code or regions.province_code())))]
    clear_of = {rid: r.clear for rid, r in rules.REGISTRY.items()}
    counted = f[f["severity"] != "info"]
    return {
        "total": len(f),
        "by_rule": f.groupby("rule_id").size().to_dict(),
        "by_severity": {s: int((f["severity"] == s).sum()) for s in contract.SEVERITIES},
        "clear_failed": {c: bool((counted["rule_id"].map(clear_of) == c).any()) for c in contract.CLEARS},
        "ids": set(f["id_number"].dropna()),
    }


@pytest.fixture(scope="module")
def hand_ws(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nb") / "ws.duckdb"
    build_hand_ws(path)
    return path


@pytest.mark.parametrize("code", ["620100", None])
def test_counts_equal_findings_table(hand_ws, tmp_path, code):
    scraps, text = execute(hand_ws, tmp_path / "out.ipynb", region_code=code)
    exp = expected(hand_ws, code)
    assert exp["total"] > 0
    assert scraps["findings_total"] == exp["total"] == scraps["headline"]["findings"]
    assert scraps["findings_by_rule"] == exp["by_rule"]
    assert scraps["findings_by_severity"] == exp["by_severity"]
    for clear, failed in exp["clear_failed"].items():
        assert (scraps["four_clears"][clear] == "未通过") == failed, clear
    assert scraps["headline"]["region_code"] == (code or "620000")
    # children side by side add up with the region's own units to the total
    assert sum(scraps["findings_by_region"].values()) <= exp["total"]
    # masked: no full ID anywhere in the executed notebook, the masked form is shown
    shown = set(FULL_ID.findall(text))
    assert not (shown & exp["ids"]), shown & exp["ids"]
    assert ids.mask_id(GHOST) in text
    assert "Traceback" not in text


def test_full_disclosure_shows_ids(hand_ws, tmp_path):
    _, text = execute(hand_ws, tmp_path / "full.ipynb", region_code="620103", pii="full")
    assert GHOST in text


def test_sample_province(request, tmp_path):
    pytest.importorskip("workbench.synth")
    pytest.importorskip("workbench.intake")
    ws = request.getfixturevalue("sample_ws")
    code = regions.children(regions.province_code())[0]
    scraps, text = execute(ws, tmp_path / "sample.ipynb", region_code=code)
    exp = expected(ws, code)
    assert scraps["findings_total"] == exp["total"]
    assert scraps["findings_by_rule"] == exp["by_rule"]
    assert not (set(FULL_ID.findall(text)) & exp["ids"])
    assert json.loads(text)["cells"]
