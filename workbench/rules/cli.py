"""``workbench check``: run the catalogue, store the run, print a summary, optionally export the findings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pandas as pd

from .. import contract, xlsx
from .. import workspace as wsp
from .registry import REGISTRY
from .runner import NOT_RUN, run

PII_WARNING = "警告：导出文件包含完整的公民身份号码（个人敏感信息），请严格控制知悉范围，妥善保管，不得外传。"


def cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True, help="工作区文件（.duckdb）")
    parser.add_argument("--rules", default=None, help="只运行指定规则，逗号分隔，如 EST_OVER,PER_DUPLICATE")
    parser.add_argument("--export", default=None, help="导出问题清单到 .csv 或 .xlsx 文件")
    parser.add_argument("--pii", choices=("masked", "full"), default="masked",
                        help="导出的公民身份号码：masked 脱敏（默认）或 full 完整")


def summary(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """One row per rule of the run: 规则, 名称, 严重程度, 问题数, 涉及单位数, 状态, 说明."""
    frame = con.execute(
        """SELECT s.rule_id, s.status, s.reason, s.findings, count(DISTINCT f.org_code) AS units
           FROM rule_status s LEFT JOIN findings f ON f.run_id = s.run_id AND f.rule_id = s.rule_id
           WHERE s.run_id = ? GROUP BY ALL""",
        [run_id],
    ).df()
    order = {rid: i for i, rid in enumerate(REGISTRY)}
    frame = frame.sort_values("rule_id", key=lambda s: s.map(order))
    return pd.DataFrame({
        "规则": frame["rule_id"],
        "名称": frame["rule_id"].map(lambda r: REGISTRY[r].title_zh),
        "严重程度": frame["rule_id"].map(lambda r: contract.SEVERITY_ZH[REGISTRY[r].severity]),
        "问题数": frame["findings"].astype(int),
        "涉及单位数": frame["units"].astype(int),
        "状态": frame["status"].map({NOT_RUN: "未运行"}).fillna("已运行"),
        "说明": frame["reason"].fillna(""),
    }).reset_index(drop=True)


def export_frame(con: duckdb.DuckDBPyConnection, run_id: int, pii: str = "masked") -> pd.DataFrame:
    """The run's findings with the §5 columns in order under their Chinese headers; IDs masked unless pii='full'."""
    id_expr = "id_number" if pii == "full" else "wb_mask(id_number)"
    cols = ", ".join(id_expr + " AS id_number" if c == "id_number" else c for c in contract.FINDING_COLUMNS)
    order = " ".join(f"WHEN '{rid}' THEN {i}" for i, rid in enumerate(REGISTRY))
    frame = con.execute(
        f"SELECT {cols} FROM findings WHERE run_id = ?"
        f" ORDER BY CASE rule_id {order} ELSE 999 END, region_code NULLS LAST, org_code, id_number NULLS FIRST, item",
        [run_id],
    ).df()
    return frame.rename(columns=contract.FINDING_HEADERS)


def export(con: duckdb.DuckDBPyConnection, run_id: int, path: str | Path, pii: str = "masked") -> Path:
    """Write the run's findings to .xlsx or .csv (formula-safe, IDs as text)."""
    path = Path(path)
    frame = export_frame(con, run_id, pii)
    if path.suffix.lower() == ".csv":
        return xlsx.write_csv(path, frame)
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"不支持的导出格式：{path.name}（请使用 .csv 或 .xlsx）")
    text = [contract.FINDING_HEADERS[c] for c in ("region_code", "org_code", "id_number")]
    widths = {contract.FINDING_HEADERS["detail"]: 60, contract.FINDING_HEADERS["title"]: 30,
              contract.FINDING_HEADERS["id_number"]: 22, contract.FINDING_HEADERS["org_code"]: 22}
    return xlsx.write_workbook(path, [xlsx.SheetSpec("问题清单", frame, text_columns=text, widths=widths)])


def cli_run(args: argparse.Namespace) -> int:
    rules = [r for r in args.rules.split(",")] if args.rules else None
    if args.export and Path(args.export).suffix.lower() not in (".csv", ".xlsx"):
        print(f"不支持的导出格式：{args.export}（请使用 .csv 或 .xlsx）", file=sys.stderr)
        return 2
    if not Path(args.workspace).exists():
        print(f"工作区不存在：{args.workspace}（请先用 workbench intake 导入数据）", file=sys.stderr)
        return 2
    try:
        with wsp.writer(args.workspace) as con:
            result = run(con, rules)
            table = summary(con, result.run_id)
            if args.export:
                if args.pii == "full":
                    print(PII_WARNING, file=sys.stderr)
                out = export(con, result.run_id, args.export, args.pii)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"核查批次 {result.run_id}（基准日 {result.as_of}，财政发放月份 {result.pay_month or '无'}），"
          f"用时 {result.total_seconds:.2f} 秒")
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 60, "display.width", 200,
                           "display.unicode.east_asian_width", True):
        print(table.to_string(index=False))
    ran = table[table["状态"] == "已运行"]
    print(f"共运行 {len(ran)} 条规则，发现问题 {int(ran['问题数'].sum())} 条；未运行 {len(table) - len(ran)} 条。")
    if args.export:
        print(f"问题清单已导出：{out}（公民身份号码{'完整显示' if args.pii == 'full' else '已脱敏'}）")
    return 0
