"""On the embedded sample province the findings equal the planted truth exactly, rule by rule."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench import rules
from workbench import workspace as wsp

KEY = ["rule_id", "org_code", "id_number", "item"]


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[KEY].astype("string").fillna("").drop_duplicates()


@pytest.fixture(scope="module")
def compared(sample_dir, sample_ws):
    truth = _keys(pd.read_csv(sample_dir / "truth.csv", dtype=str, keep_default_na=False))
    with wsp.reader(sample_ws) as con:
        found = _keys(rules.latest_findings(con))
        status = rules.latest_status(con)
    return truth, found, status


def test_every_rule_ran_on_the_sample(compared):
    _, _, status = compared
    assert set(status["rule_id"]) == set(rules.REGISTRY)
    assert (status["status"] == "ran").all(), status[status["status"] != "ran"]


@pytest.mark.parametrize("rule_id", list(rules.REGISTRY))
def test_findings_equal_truth(compared, rule_id):
    truth, found, _ = compared
    t = set(map(tuple, truth[truth["rule_id"] == rule_id].to_numpy()))
    f = set(map(tuple, found[found["rule_id"] == rule_id].to_numpy()))
    assert t, f"truth.csv plants nothing for {rule_id}"
    missed, extra = sorted(t - f), sorted(f - t)
    assert not missed and not extra, f"{rule_id}: missed {missed[:5]} ({len(missed)}), extra {extra[:5]} ({len(extra)})"
