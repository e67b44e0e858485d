"""Shared fixtures: a small sample province generated, loaded and checked once per test session.

``sample_dir`` is ``workbench synth`` output (inputs/, truth.csv, expected_rejects.csv);
``sample_ws`` is a workspace with those inputs loaded and the rule catalogue run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SAMPLE_PERSONS = int(os.environ.get("WB_TEST_PERSONS", "3000"))
SAMPLE_SEED = 7


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    from workbench import synth

    out = tmp_path_factory.mktemp("sample")
    synth.generate(out, persons=SAMPLE_PERSONS, seed=SAMPLE_SEED)
    return out


@pytest.fixture(scope="session")
def sample_ws(sample_dir, tmp_path_factory) -> Path:
    from workbench import intake, rules

    ws = tmp_path_factory.mktemp("ws") / "workspace.duckdb"
    intake.intake([sample_dir / "inputs"], ws)
    rules.run_check(ws)
    return ws
