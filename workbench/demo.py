"""``workbench demo``: the whole campaign end to end on the embedded sample province.

synth → templates → intake (+ rejects workbook) → check (+ findings workbook) → sample (when the sampling
module is installed) → every region's report, 整改台账 and the index; then where to look and how to open the
dashboard. Each step prints one or two lines; a failing step stops the demo with its reason (sampling is
optional and only warns).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_OUT = "demo"
SAMPLE_SEED = 20140331


def _step(n: int, total: int, title: str, fn: Callable[[], str]) -> None:
    print(f"【{n}/{total}】{title} …", flush=True)
    t0 = time.perf_counter()
    msg = fn()
    print(f"    {msg}（{time.perf_counter() - t0:.1f} 秒）", flush=True)


def fresh_workspace(ws: Path) -> None:
    """Remove an earlier demo workspace (and its snapshot / WAL) so a re-run starts clean."""
    from . import workspace

    for p in (ws, workspace.snapshot_path(ws), ws.with_name(ws.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def run_demo(out: str | Path = DEFAULT_OUT, persons: int | None = None, seed: int | None = None,
             jobs: int | None = None, progress: bool = True, report_regions: str = "all") -> dict:
    """Run every step into ``out``; returns the paths of what was made."""
    from . import intake, reports, rules, summaries, synth, templates, workspace
    from .rules import cli as rules_cli

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ws = out / "workspace.duckdb"
    paths = {"out": out, "workspace": ws, "sample": out / "sample", "templates": out / "templates",
             "rejects": out / "被拒行.xlsx", "findings": out / "问题清单.xlsx", "sampling": out / "抽查计划",
             "reports": out / "reports"}
    has_sampling = importlib.util.find_spec("workbench.sampling_cli") is not None
    total = 6 + has_sampling
    n = iter(range(1, total + 1))
    state: dict = {}

    def do_synth() -> str:
        kw = {k: v for k, v in (("persons", persons), ("seed", seed)) if v is not None}
        m = synth.generate(paths["sample"], **kw)
        return (f"示例省数据：{m['units']} 个机构、{m['staff_rows']} 条在编人员记录、{len(m['files'])} 个文件，"
                f"预置问题 {m['truth_findings']} 条 → {paths['sample'] / 'inputs'}")

    def do_templates() -> str:
        written = templates.write_templates(paths["templates"])
        return f"{len(written)} 个 Excel 填报模板 → {paths['templates']}"

    def do_intake() -> str:
        fresh_workspace(ws)
        df = intake.intake([paths["sample"] / "inputs"], ws)
        intake.export_rejects(ws, paths["rejects"])
        files = df["file"].nunique()
        return (f"导入 {files} 个文件：读取 {int(df['read'].sum())} 行，入库 {int(df['loaded'].sum())} 行，"
                f"拒收 {int(df['rejected'].sum())} 行（原因见 {paths['rejects']}）")

    def do_check() -> str:
        run_id = rules.run_check(ws)
        with contextlib.closing(workspace.reader(ws)) as con:
            rules_cli.export(con, run_id, paths["findings"], "masked")
            sev = summaries.findings_by_severity(con)
        parts = "、".join(f"{r.severity_zh} {r.findings}" for r in sev.itertuples() if r.findings)
        return (f"核查批次 {run_id}：共发现问题 {int(sev['findings'].sum())} 条（{parts or '无'}）"
                f" → {paths['findings']}")

    def do_sample() -> str:
        from . import sampling_cli

        res = sampling_cli.make_plan(ws, SAMPLE_SEED if seed is None else seed, paths["sampling"])
        picked = res["plan"].units
        picked = picked[picked["picked"]]
        by = picked["universe"].value_counts()
        return (f"抽查计划 {res['plan_id']}：抽中县级地区 {int(by.get('county', 0))} 个、"
                f"省直单位 {int(by.get('provincial', 0))} 个，检查组核查表 → {paths['sampling']}")

    def do_reports() -> str:
        m = reports.run_reports(ws, paths["reports"], report_regions, jobs=jobs, progress=progress)
        state["manifest"] = m
        ok = len(m["reports"]) - len(m["failed"])
        failed = f"，失败 {len(m['failed'])} 份：{', '.join(m['failed'])}" if m["failed"] else ""
        return f"分地区报告 {ok} 份{failed}（用时 {m['duration_seconds']:.0f} 秒）→ {paths['reports']}"

    steps = [("生成示例省数据（synth）", do_synth), ("生成填报模板（templates）", do_templates),
             ("导入数据（intake）", do_intake), ("运行核查规则（check）", do_check)]
    if has_sampling:
        steps.append(("督查验收抽样与互检轮换（sample）", do_sample))
    steps.append(("批量生成分地区报告与整改台账（report）", do_reports))
    for title, fn in steps:
        k = next(n)
        try:
            _step(k, total, title, fn)
        except Exception as exc:
            if fn is do_sample:
                print(f"    抽样未完成（不影响其余步骤）：{exc}", file=sys.stderr)
                continue
            raise DemoError(f"第{k}步“{title}”失败：{type(exc).__name__}: {exc}") from exc
    print(f"【{next(n)}/{total}】完成。查看结果：", flush=True)
    print(where_to_look(paths), flush=True)
    paths["failed"] = state.get("manifest", {}).get("failed", [])
    return paths


def where_to_look(paths: dict) -> str:
    ws = paths["workspace"]
    lines = [
        f"  · 报告索引（浏览器打开，离线可用）：{paths['reports'] / 'index.html'}",
        f"  · 各地区报告 HTML：{paths['reports'] / 'html'}；执行后的 notebook：{paths['reports'] / 'ipynb'}",
        f"  · 整改台账（每个地区一份 Excel）：{paths['reports'] / '整改台账'}",
        f"  · 问题清单：{paths['findings']}；导入被拒行：{paths['rejects']}",
        f"  · 填报模板：{paths['templates']}；示例输入数据：{paths['sample'] / 'inputs'}",
    ]
    if paths["sampling"].exists():
        lines.append(f"  · 抽查计划与检查组核查表：{paths['sampling']}")
    lines += [
        f"  · 工作区（DuckDB）：{ws}",
        "打开驾驶舱（Voila，仅本机访问）：",
        "    make dashboard" + ("" if paths["out"] == Path(DEFAULT_OUT) else f" OUT={paths['out']}"),
        f"    或 workbench dashboard --workspace {ws}",
        "在 JupyterLab 中分析：.venv/bin/jupyter lab notebooks/",
    ]
    return "\n".join(lines)


class DemoError(RuntimeError):
    pass


# ================================================================================================ CLI
def cli_arguments(parser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help="输出目录（默认 demo/）")
    parser.add_argument("--persons", type=int, default=None, help="示例省在编人员约数（默认与 synth 相同）")
    parser.add_argument("--seed", type=int, default=None, help="随机种子（默认与 synth 相同）")
    parser.add_argument("--jobs", type=int, default=None, help="生成报告的并行进程数（默认每核一个）")
    parser.add_argument("--no-progress", action="store_true", help="不显示进度条")
    parser.add_argument("--regions", default="all", help="生成报告的地区（默认 all）")


def cli_run(args) -> int:
    print(f"编制核查工作台演示：在示例省上端到端运行全部流程 → {Path(args.out).resolve()}", flush=True)
    try:
        paths = run_demo(args.out, args.persons, args.seed, args.jobs, not args.no_progress, args.regions)
    except DemoError as exc:
        print(f"演示中止：{exc}", file=sys.stderr)
        return 1
    return 1 if paths["failed"] else 0


if __name__ == "__main__":  # python -m workbench.demo …
    import argparse

    _parser = argparse.ArgumentParser(prog="workbench demo")
    cli_arguments(_parser)
    sys.exit(cli_run(_parser.parse_args()))
