"""Every committed notebook is thin: a `parameters` cell first, no def/class, no outputs committed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: notebook -> the parameters its first cell must define
PARAMETERS = {
    "notebooks/10-intake.ipynb": ("source", "workspace"),
    "notebooks/20-discrepancies.ipynb": ("workspace", "region_code"),
    "notebooks/30-sampling.ipynb": ("workspace", "seed", "ratio"),
    "notebooks/40-region-report.ipynb": ("workspace", "region_code", "pii", "run_dir"),
    "notebooks/dashboards/overview.ipynb": ("workspace",),
    "notebooks/dashboards/explorer.ipynb": ("workspace",),
}


def code_cells(path: str) -> list:
    return [c for c in nbformat.read(ROOT / path, as_version=4).cells if c.cell_type == "code"]


def test_every_notebook_is_declared():
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").rglob("*.ipynb")
             if ".ipynb_checkpoints" not in p.parts}
    assert found == set(PARAMETERS)


@pytest.mark.parametrize("path", sorted(PARAMETERS))
def test_notebook_is_thin(path):
    code = code_cells(path)
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in PARAMETERS[path]:
        assert re.search(rf"^{name}\s*=", code[0].source, re.M), f"{path}: parameter {name} missing"
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None, "outputs must not be committed"
        assert "def " not in c.source and "class " not in c.source
