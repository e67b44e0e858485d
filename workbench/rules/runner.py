"""Running the catalogue: base tables once per run, one INSERT … SELECT per rule into the staging table
``wb_found`` (integer keys), then one INSERT turning them into findings, everything stored.

Tables written (DESIGN §5, workspace.py): ``finding_runs`` (run id, start/end, as_of, rules),
``rule_status`` (per rule: version, ran / not run, reason, count, seconds) and ``findings``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from .. import contract, derived
from .. import workspace as wsp
from . import prepare
from .registry import REGISTRY, Rule, decode_sql, select

RAN, NOT_RUN = "ran", "not run"


@dataclass
class RuleResult:
    rule_id: str
    status: str
    reason: str | None = None
    findings: int = 0
    seconds: float = 0.0


@dataclass
class RunResult:
    """What one run did: its id, the time spent building base tables and storing the findings, each rule's result."""

    run_id: int
    as_of: dt.date
    pay_month: str | None
    prepare_seconds: float = 0.0
    store_seconds: float = 0.0  # the staged rows turned into findings (keys decoded to texts)
    total_seconds: float = 0.0
    results: list[RuleResult] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.results])


def _sheet_zh(table: str) -> str:
    return contract.sheet_for_table(table).name


def _why_not(rule: Rule, counts: dict[str, int]) -> str | None:
    """Chinese reason when a source table is empty, else None."""
    empty = [t for t in rule.sources if counts.get(t, 0) == 0]
    if empty:
        return "数据源未导入（表中无数据）：" + "、".join(_sheet_zh(t) for t in empty) + "，本规则未运行"
    if rule.any_of and all(counts.get(t, 0) == 0 for t in rule.any_of):
        return "数据源" + "、".join(_sheet_zh(t) for t in rule.any_of) + "均未导入，本规则未运行"
    return None


def _note(rule: Rule, counts: dict[str, int]) -> str | None:
    """A remark for a rule that ran on partial sources."""
    missing = [t for t in rule.optional if counts.get(t, 0) == 0]
    if missing:
        return "未导入" + "、".join(_sheet_zh(t) for t in missing) + "，未与其比对"
    if rule.any_of:
        missing = [t for t in rule.any_of if counts.get(t, 0) == 0]
        if missing:
            return "未导入" + "、".join(_sheet_zh(t) for t in missing) + "，未比对其中的机构代码"
    return None


def _carry_forward(con: duckdb.DuckDBPyConnection, run_id: int, chosen: list[str]) -> None:
    """Copy the results of the rules not chosen from the previous run, so every run is complete."""
    prev = con.execute("SELECT max(run_id) FROM finding_runs WHERE finished_at IS NOT NULL").fetchall()[0][0]
    if prev is None or len(chosen) == len(REGISTRY):
        return
    keep = "rule_id NOT IN (SELECT unnest($chosen::VARCHAR[]))"
    con.execute(f"INSERT INTO findings SELECT $run, * EXCLUDE (run_id) FROM findings WHERE run_id = $prev AND {keep}",
                {"run": run_id, "prev": prev, "chosen": chosen})
    con.execute(
        f"""INSERT INTO rule_status SELECT $run, rule_id, version, status,
                   COALESCE(reason || '；', '') || '本批次未重新运行，沿用第' || $prev || '批次结果', findings, 0
            FROM rule_status WHERE run_id = $prev AND {keep}""",
        {"run": run_id, "prev": prev, "chosen": chosen})


def run(con: duckdb.DuckDBPyConnection, rules=None) -> RunResult:
    """Run the chosen rules (all by default) on an open writing connection; one transaction."""
    chosen = select(rules)
    t_start = time.perf_counter()
    started = dt.datetime.now()
    as_of = wsp.as_of(con)
    prepare.install(con)
    tables = sorted({t for r in chosen for t in r.sources + r.any_of + r.optional})
    counts = {t: con.execute(f'SELECT count(*) FROM (SELECT 1 FROM "{t}" LIMIT 1)').fetchall()[0][0] for t in tables}
    pay_month = prepare.latest_pay_month(con) if counts.get("payroll") else None
    params = {"as_of": as_of, "pay_month": pay_month}
    runnable = [r for r in chosen if _why_not(r, counts) is None]

    con.execute("BEGIN TRANSACTION")
    try:
        derived.complete(con)  # rows not written by intake: normalised and keyed as intake would
        run_id = con.execute("SELECT COALESCE(max(run_id), 0) + 1 FROM finding_runs").fetchall()[0][0]
        result = RunResult(run_id, as_of, pay_month)
        t0 = time.perf_counter()
        prepare.build_all(con, {u for r in runnable for u in r.uses}, params)
        con.execute(prepare.FOUND)
        result.prepare_seconds = time.perf_counter() - t0
        for rule in chosen:
            reason = _why_not(rule, counts)
            if reason:
                result.results.append(RuleResult(rule.id, NOT_RUN, reason))
                continue
            t0 = time.perf_counter()
            n = con.execute(f"INSERT INTO wb_found {prepare.bind(rule.sql, params)}").fetchall()[0][0]
            result.results.append(RuleResult(rule.id, RAN, _note(rule, counts), int(n), time.perf_counter() - t0))
        t0 = time.perf_counter()
        con.execute(decode_sql(run_id))
        result.store_seconds = time.perf_counter() - t0
        _carry_forward(con, run_id, [r.id for r in chosen])
        con.execute("INSERT INTO finding_runs VALUES (?, ?, ?, ?, ?)",
                    [run_id, started, dt.datetime.now(), as_of, ",".join(r.id for r in chosen)])
        status = pd.DataFrame(
            [(run_id, r.rule_id, REGISTRY[r.rule_id].version, r.status, r.reason, r.findings, r.seconds)
             for r in result.results],
            columns=["run_id", "rule_id", "version", "status", "reason", "findings", "seconds"],
        )
        con.register("wb_status_in", status)
        con.execute("INSERT INTO rule_status SELECT * FROM wb_status_in")
        con.unregister("wb_status_in")
        prepare.drop_all(con)  # before COMMIT: the base tables' rows are then never committed (saves copying them)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")  # also drops the base tables created in the transaction
        raise
    result.total_seconds = time.perf_counter() - t_start
    return result


def run_check(workspace: str | os.PathLike | duckdb.DuckDBPyConnection, rules=None) -> int:
    """Run the catalogue (or the chosen rule ids) on a workspace path or open connection; returns the run id.

    Given a path, the run is committed and the read-only snapshot republished.
    """
    if isinstance(workspace, (str, Path, os.PathLike)):
        with wsp.writer(workspace) as con:
            return run(con, rules).run_id
    return run(workspace, rules).run_id


def latest_run_id(con: duckdb.DuckDBPyConnection) -> int | None:
    """Id of the latest finished run, None when the catalogue never ran."""
    return con.execute("SELECT max(run_id) FROM finding_runs WHERE finished_at IS NOT NULL").fetchall()[0][0]


_LATEST_RUN = "(SELECT max(run_id) FROM finding_runs WHERE finished_at IS NOT NULL)"


def _order_case(alias: str) -> str:
    return f"CASE {alias}.rule_id " + " ".join(f"WHEN '{rid}' THEN {i}" for i, rid in enumerate(REGISTRY)) + " ELSE 999 END"


def latest_findings(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Findings of the latest run: the DESIGN §5 columns in order (rule_id … detail), IDs unmasked.

    Every run holds the whole catalogue: a run limited with ``--rules`` carries the other rules' results
    forward from the run before, so the latest run is always complete.
    """
    cols = ", ".join(f"f.{c}" for c in contract.FINDING_COLUMNS)
    return con.execute(
        f"SELECT {cols} FROM findings f WHERE f.run_id = {_LATEST_RUN}"
        f" ORDER BY {_order_case('f')}, f.region_code NULLS LAST, f.org_code, f.id_number NULLS FIRST, f.item"
    ).df()


def latest_status(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """rule_status of the latest run: rule_id, version, status, reason, findings, seconds (catalogue order)."""
    return con.execute(
        f"SELECT s.rule_id, s.version, s.status, s.reason, s.findings, s.seconds FROM rule_status s"
        f" WHERE s.run_id = {_LATEST_RUN} ORDER BY {_order_case('s')}"
    ).df()
