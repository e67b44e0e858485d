"""``workbench sample``: draw and store the 督查验收 plan and write the inspectors' workbook, or evaluate it.

    workbench sample --workspace WS --seed S [--ratio 0.4] [--force-critical]
                     [--confidence .95 --tolerable .05 --expected 0] [--no-mutual]
                     [--avoid-last | --last-rotation FILE] --out DIR
    workbench sample --workspace WS --evaluate [--plan PLAN_ID]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import contract, regions, sampling, workspace

MIN_RATIO = 0.4  # DESIGN §1: the province spot-checks at least 40 %


def cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True, help="工作区文件（.duckdb）")
    parser.add_argument("--seed", type=int, help="随机种子（同一种子得到同一方案）")
    parser.add_argument("--ratio", type=float, default=sampling.DEFAULT_RATIO, help="每层抽取比例，默认0.4")
    parser.add_argument("--force-critical", action="store_true", help="存在严重问题的单位强制纳入")
    parser.add_argument("--confidence", type=float, default=sampling.DEFAULT_CONFIDENCE, help="置信水平，默认0.95")
    parser.add_argument("--tolerable", type=float, default=sampling.DEFAULT_TOLERABLE, help="可容忍偏差率，默认0.05")
    parser.add_argument("--expected", type=float, default=sampling.DEFAULT_EXPECTED, help="预期偏差率，默认0")
    parser.add_argument("--no-mutual", action="store_true", help="互检不得两市州互查对调")
    parser.add_argument("--avoid-last", action="store_true", help="互检不得与工作区中上一抽查计划的安排相同")
    parser.add_argument("--last-rotation", help="上一轮互检安排（CSV或XLSX，列：检查组代码、被检查地区代码；可填代码或市州名称）")
    parser.add_argument("--out", help="检查组核查表与抽查方案的输出目录")
    parser.add_argument("--evaluate", action="store_true", help="根据导入的实地核查结果评价并输出验收表")
    parser.add_argument("--plan", help="抽查计划编号（默认最新）")


def read_rotation(path: str | Path) -> pd.DataFrame:
    """A previous rotation table (CSV or XLSX, Chinese or canonical headers) → team_region, inspected_region."""
    path = Path(path)
    if not path.exists():
        raise sampling.SamplingError(f"文件不存在：{path}")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        frame = pd.read_excel(path, dtype=str)
    else:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    back = {v: k for k, v in contract.SAMPLE_HEADERS.items()}
    frame = frame.rename(columns=lambda c: back.get(str(c).strip(), str(c).strip()))
    missing = [c for c in ("team_region", "inspected_region") if c not in frame]
    if missing:
        names = "、".join(contract.SAMPLE_HEADERS[c] for c in missing)
        raise sampling.SamplingError(f"文件 {path.name} 缺少列：{names}。")
    frame = frame[["team_region", "inspected_region"]].dropna().apply(lambda s: s.str.strip())
    r = regions.regions()
    by_name = dict(zip(r["name"], r["region_code"], strict=True))  # 兰州市 or 兰州市检查组 → 620100
    return frame.apply(lambda s: s.str.removesuffix(contract.TEAM_SUFFIX).replace(by_name))


def make_plan(workspace_path: str | Path, seed: int, out_dir: str | Path, *, ratio: float = sampling.DEFAULT_RATIO,
              force_critical: bool = False, confidence: float = sampling.DEFAULT_CONFIDENCE,
              tolerable: float = sampling.DEFAULT_TOLERABLE, expected: float = sampling.DEFAULT_EXPECTED,
              no_mutual: bool = False, avoid_last: bool = False, last_rotation: str | Path | None = None) -> dict:
    """Draw, store and export a plan; returns plan_id, the plan and the written workbooks."""
    if not Path(workspace_path).exists():
        raise sampling.SamplingError(f"工作区不存在：{workspace_path}")
    avoid = read_rotation(last_rotation) if last_rotation else None
    with workspace.writer(workspace_path) as con:
        sampling.init_tables(con)
        if avoid_last and avoid is None:
            try:
                avoid = sampling.load_plan(con).rotation
            except sampling.SamplingError:
                avoid = None  # no earlier plan: nothing to avoid
        plan = sampling.draw_plan(con, seed, ratio, force_critical=force_critical, confidence=confidence,
                                  tolerable=tolerable, expected=expected, no_mutual=no_mutual, avoid=avoid)
        con.execute("BEGIN TRANSACTION")
        try:
            plan_id = sampling.store_plan(con, plan)
            books = sampling.write_workbooks(plan, out_dir)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return {"plan_id": plan_id, "plan": plan, "workbooks": books}


def evaluate(workspace_path: str | Path, plan_id: str | None = None) -> pd.DataFrame:
    """Evaluate a stored plan against the loaded 实地核查 results and store the acceptance table."""
    if not Path(workspace_path).exists():
        raise sampling.SamplingError(f"工作区不存在：{workspace_path}")
    with workspace.writer(workspace_path) as con:
        table = sampling.evaluate_plan(con, plan_id)
        sampling.store_acceptance(con, table)
        table.attrs["problems"] = sampling.onsite_problems(con, table["plan_id"].iloc[0])
    return table


def format_acceptance(table: pd.DataFrame) -> pd.DataFrame:
    """The acceptance table for people: Chinese headers, rates in %, projections rounded."""
    out = table[sampling.ACCEPTANCE_COLUMNS].copy()
    for c in ("rate", "cp_upper", "upper", "tolerable"):
        out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.2%}")
    for c in ("projected_absent", "projected_low", "projected_high"):
        out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    return sampling.zh(out.fillna(""))


def cli_run(args: argparse.Namespace) -> int:
    try:
        if args.evaluate:
            table = evaluate(args.workspace, args.plan)
            print(f"抽查计划 {table['plan_id'].iloc[0]} 验收评价：")
            with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_rows", 500):
                print(format_acceptance(table).to_string(index=False))
            for _, p in table.attrs["problems"].iterrows():
                print(f"注意：文件“{p['file']}”工作表“{p['sheet']}”第{p['row']}行“{p['column']}”：{p['message']}",
                      file=sys.stderr)
            return 0
        if args.seed is None or not args.out:
            print("错误：抽样需要 --seed 和 --out（评价已导入的结果请用 --evaluate）。", file=sys.stderr)
            return 2
        if args.ratio < MIN_RATIO:
            print(f"提示：抽取比例{args.ratio:.0%}低于督查验收要求的{MIN_RATIO:.0%}。", file=sys.stderr)
        result = make_plan(args.workspace, args.seed, args.out, ratio=args.ratio,
                           force_critical=args.force_critical, confidence=args.confidence,
                           tolerable=args.tolerable, expected=args.expected, no_mutual=args.no_mutual,
                           avoid_last=args.avoid_last, last_rotation=args.last_rotation)
    except sampling.SamplingError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    plan = result["plan"]
    summary = sampling.strata_summary(plan.units).groupby("universe")[["n_stratum", "take"]].sum()
    print(f"抽查计划 {result['plan_id']}（种子 {args.seed}，比例 {args.ratio:.0%}）：")
    for universe, row in summary.iterrows():
        print(f"  {contract.SAMPLE_UNIVERSES[universe]}：抽中 {row['take']} / {row['n_stratum']}")
    print(f"  核查人员 {len(plan.persons)} 人（严重问题人员 {int((plan.persons['stratum'] == 'critical').sum())} 人）")
    for path in result["workbooks"].values():
        print(f"  已写出 {path}")
    return 0
