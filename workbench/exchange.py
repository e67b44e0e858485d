"""Joint review (联合审核): request workbooks for the police, finance, HR and organisation departments.

``workbench exchange export --dept police|finance|hr|org --workspace WS --out DIR [--by-region]`` writes
the persons each department must verify, as a workbook whose data sheet *is* that department's contract
sheet (公安核查 / 财政发放 / 人社信息 / 组织部门): known columns pre-filled (the full ID number — the
department has to match it —, the name, the unit code), result columns blank with drop-downs. The
department fills it in and sends it back; ``workbench intake`` loads the returned file as that sheet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import contract, regions, templates, workspace
from .xlsx import SheetSpec, write_workbook

TITLE = "联合审核核查请求"
EXTRA_ROWS = 500  # empty rows with drop-downs for persons the department adds
UNKNOWN_REGION = "000000"

#: department -> SQL selecting the persons to verify (id_number, name, org_code, region_code).
#: region_code is the unit's (机构), else digits 3-8 of a valid USCC, else 000000.
_REGION = (f"COALESCE(o.region_code, CASE WHEN wb_uscc_valid(p.org_code) THEN substr(p.org_code, 3, 6) END,"
           f" '{UNKNOWN_REGION}')")
_LEADERS = ", ".join(f"'{v}'" for v in contract.LEADER_LEVELS)
_PERSONS_SQL = {  # {region}: the region expression, or NULL for one file with every region
    # police: every distinct ID of 人员 and 编外人员 (per region when asked), name preferably from 人员
    "police": """
        WITH p AS (
            SELECT id_number, name, org_code, 1 AS src, _file, _row FROM staff
            UNION ALL SELECT id_number, name, org_code, 2 AS src, _file, _row FROM offstaff)
        SELECT p.id_number, arg_min(p.name, (p.name IS NULL, p.src, p._file, p._row)) AS name,
               NULL AS org_code, {region} AS region_code
        FROM p LEFT JOIN orgs o ON o.org_code = p.org_code
        GROUP BY ALL""",
    # finance: 人员 and 编外人员 with their unit
    "finance": """
        WITH p AS (
            SELECT id_number, name, org_code, 1 AS src, _file, _row FROM staff
            UNION ALL SELECT id_number, name, org_code, 2 AS src, _file, _row FROM offstaff)
        SELECT p.id_number, arg_min(p.name, (p.name IS NULL, p.src, p._file, p._row)) AS name, p.org_code,
               {region} AS region_code
        FROM p LEFT JOIN orgs o ON o.org_code = p.org_code
        GROUP BY ALL""",
    # HR: 人员 with their unit
    "hr": """
        SELECT p.id_number, arg_min(p.name, (p.name IS NULL, p._file, p._row)) AS name, p.org_code,
               {region} AS region_code
        FROM staff p LEFT JOIN orgs o ON o.org_code = p.org_code
        GROUP BY ALL""",
    # organisation dept: 人员 rows holding a 正职/副职 post, with their unit
    "org": """
        SELECT p.id_number, arg_min(p.name, (p.name IS NULL, p._file, p._row)) AS name, p.org_code,
               {region} AS region_code
        FROM staff p LEFT JOIN orgs o ON o.org_code = p.org_code
        WHERE p.leader_level IN ({leaders})
        GROUP BY ALL""",
}

#: the department's own column holding the unit code (contract canonical name)
_UNIT_COLUMN = "org_code"

#: what each department does with the request (shown in 填报说明)
_TASKS = {
    "police": (
        "请逐人核对公民身份号码与姓名，在“核查结果”列从下拉列表选择：一致、姓名不一致、号码不存在、已死亡、已注销。",
        "“姓名不一致”时请在“姓名”列改填户籍登记的姓名。",
    ),
    "finance": (
        "请按{month}的工资发放记录填写“工资账号”“发放月份（YYYY-MM，如{month}）”“应发金额”；“发放单位代码”如与实际发放单位不同，请改为实际发放单位的统一社会信用代码。",
        "名单中未发放工资的人员请删除整行（发放月份为必填项，留空的行导入时会被拒收）。",
        "财政供养但不在名单中的人员，请在表末逐人补充一行，同样填写完整。",
    ),
    "hr": (
        "请逐人核对人社部门在职人员信息，在“人员身份”列填写人社登记的人员身份（如 公务员、事业单位工作人员、机关工勤人员）。",
        "“单位代码”如与人社登记的单位不同，请改为登记单位的统一社会信用代码。",
        "人社部门没有在职记录的人员请删除整行。",
    ),
    "org": (
        "名单为各单位申报担任领导职务的人员。请按组织部门任职记录，在“领导职务层次”列从下拉列表选择：正职、副职。",
        "组织部门没有该单位领导职务任职记录的人员请删除整行（领导职务层次为必填项）。",
        "组织部门任命但不在名单中的领导干部，请在表末补充一行。",
    ),
}
_COMMON = (
    "本表的工作表名称和表头请勿修改；公民身份号码不得改动（已设为文本格式，请勿改为数值格式）。",
    "本表含公民身份号码等个人信息，仅限核查工作使用，请通过安全渠道传递，用后妥善销毁。",
    "填好后将本文件原样报回编办，编办用“workbench intake”导入，作为“{sheet}”工作表。",
)


def request_frame(con, dept: str, by_region: bool = False) -> pd.DataFrame:
    """The persons the department must verify: id_number, name, org_code, region_code (set-based SQL).

    Police requests are per person: one row per ID (per region with ``by_region``, since a person
    on the roster of two regions is asked about in both).
    """
    region = _REGION if by_region or dept != "police" else "NULL"
    sql = _PERSONS_SQL[dept].replace("{region}", region).replace("{leaders}", _LEADERS)
    return con.execute(f"SELECT * FROM ({sql}) ORDER BY region_code, org_code NULLS FIRST, id_number").df()


def _sheet_frame(sheet: contract.Sheet, persons: pd.DataFrame) -> pd.DataFrame:
    """The department's contract sheet, pre-filled with what the workspace knows."""
    out = pd.DataFrame({c.header: pd.Series([None] * len(persons), dtype=object) for c in sheet.columns})
    out[sheet.column("id_number").header] = persons["id_number"].to_numpy()
    out[sheet.column("name").header] = persons["name"].to_numpy()
    if _UNIT_COLUMN in sheet.names:
        out[sheet.column(_UNIT_COLUMN).header] = persons["org_code"].to_numpy()
    return out


def instructions(dept: str, region: str | None, persons: int, as_of: str) -> pd.DataFrame:
    sheet = contract.DEPARTMENTS[dept]
    scope = _region_label(region) if region else "全部地区"
    head = [f"{TITLE}：{contract.DEPARTMENT_ZH[dept]}部门", f"核查范围：{scope}，共{persons}条；数据截止日期：{as_of}。"]
    lines = head + [t.format(month=as_of[:7]) for t in _TASKS[dept]] + [t.format(sheet=sheet.name) for t in _COMMON]
    return pd.DataFrame({"序号": range(1, len(lines) + 1), "说明": lines})


def _region_label(region: str) -> str:
    """``620102城关区``; a code outside data/regions.csv keeps just the code."""
    if region == UNKNOWN_REGION:
        return f"{region}未知地区"
    name = regions.name_of(region)
    return region if name == region else region + name


def _file_name(dept: str, region: str | None) -> str:
    base = f"{TITLE}_{contract.DEPARTMENT_ZH[dept]}"
    return f"{base}_{_region_label(region)}.xlsx" if region else f"{base}.xlsx"


def write_request(path: Path, dept: str, persons: pd.DataFrame, region: str | None, as_of: str) -> Path:
    sheet = contract.DEPARTMENTS[dept]
    data = templates.sheet_spec(sheet, blank_rows=EXTRA_ROWS)
    data.frame = _sheet_frame(sheet, persons)
    help_sheets = [
        SheetSpec(templates.INSTRUCTIONS_SHEET, instructions(dept, region, len(persons), as_of),
                  widths={"序号": 6, "说明": 120}),
        templates.help_specs([sheet])[1],
    ]
    return write_workbook(path, [data, *help_sheets], properties={"title": TITLE})


def export(workspace_path: str | Path, dept: str, out_dir: str | Path, by_region: bool = False) -> pd.DataFrame:
    """Write the request workbook(s) of one department; returns file, region_code, persons per file."""
    if dept not in contract.DEPARTMENTS:
        raise ValueError(f"未知部门：{dept}（可选：{'、'.join(contract.DEPARTMENTS)}）")
    con = workspace.reader(workspace_path)
    try:
        persons = request_frame(con, dept, by_region)
        as_of = str(workspace.as_of(con))
    finally:
        con.close()
    out = Path(out_dir)
    groups = persons.groupby("region_code", sort=True) if by_region else [(None, persons)]
    rows = []
    for region, part in groups:
        path = write_request(out / _file_name(dept, region), dept, part.reset_index(drop=True), region, as_of)
        rows.append({"file": str(path), "region_code": region, "persons": len(part)})
    return pd.DataFrame(rows, columns=["file", "region_code", "persons"])


# ------------------------------------------------------------------------------------------ CLI
def cli_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exchange_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("export", help="导出部门核查请求表", description="导出联合审核核查请求表（含完整身份证号，注意保密）")
    p.add_argument("--dept", required=True, choices=[*contract.DEPARTMENTS, "all"],
                   help="police=公安, finance=财政, hr=人社, org=组织部门, all=全部")
    p.add_argument("--workspace", required=True, help="工作区文件（.duckdb）")
    p.add_argument("--out", required=True, help="输出目录")
    p.add_argument("--by-region", action="store_true", help="按行政区划分别输出")


def cli_run(args: argparse.Namespace) -> int:
    depts = list(contract.DEPARTMENTS) if args.dept == "all" else [args.dept]
    try:
        for dept in depts:
            summary = export(args.workspace, dept, args.out, by_region=args.by_region)
            for r in summary.itertuples():
                print(f"{contract.DEPARTMENT_ZH[dept]}：{r.file}（{r.persons}人）")
    except (FileNotFoundError, ValueError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    print("注意：核查请求表含完整公民身份号码，请通过安全渠道传递。", file=sys.stderr)
    return 0
