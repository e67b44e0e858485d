"""The rule catalogue (DESIGN §5): registry, one definition per rule, runner.

``REGISTRY`` maps rule id -> :class:`Rule`; ``run_check(workspace, rules=None) -> run_id`` runs all or the
chosen rules and stores the run; ``latest_findings(con)`` returns the latest run's findings.
"""

from __future__ import annotations

from . import catalogue as _catalogue  # noqa: F401 - registers every rule
from .registry import CATALOGUE_VERSION, REGISTRY, Rule, by_clear, catalogue_frame, catalogue_markdown, select
from .runner import RunResult, latest_findings, latest_run_id, latest_status, run, run_check

__all__ = [
    "CATALOGUE_VERSION", "REGISTRY", "Rule", "RunResult", "by_clear", "catalogue_frame", "catalogue_markdown",
    "latest_findings", "latest_run_id", "latest_status", "run", "run_check", "select",
]
