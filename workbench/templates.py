"""Excel intake templates generated from the contract (``workbench templates --out templates/``).

One workbook per intake sheet (``机构.xlsx`` …) and one combined ``填报模板.xlsx`` with every sheet.
Each data sheet has the Chinese headers (with a comment per header), drop-downs on coded columns,
text format on ID/code/month columns and a frozen header; ``填报说明`` gives the general rules and
``字段说明`` every column with its type, whether it is required, its code list and an example.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import contract, ids
from .xlsx import SheetSpec, write_workbook

COMBINED_NAME = "填报模板.xlsx"
INSTRUCTIONS_SHEET = "填报说明"
FIELDS_SHEET = "字段说明"
BLANK_ROWS = 2000  # empty rows that carry the drop-downs and the text format
#: fixed creation time, so regenerating unchanged templates gives identical bytes
PROPERTIES = {"title": "编制核查填报模板", "author": "编制核查工作台", "created": dt.datetime(2014, 3, 31)}
#: the intake sheets an analyst hands out (实地核查 is the inspectors' return, made by `workbench sample`)
TEMPLATE_SHEETS = tuple(s for s in contract.SHEETS if s is not contract.ONSITE)

#: column types whose cells must be text in Excel (else IDs lose digits, 2014-03 becomes a date …)
TEXT_TYPES = (contract.ID, contract.USCC, contract.REGION, contract.MONTH, contract.TEXT, contract.CODE)

TYPE_ZH = {
    contract.ID: "公民身份号码：18位，文本格式",
    contract.USCC: "统一社会信用代码：18位，文本格式",
    contract.REGION: "行政区划代码：6位数字，文本格式",
    contract.DATE: "日期",
    contract.INT: "非负整数",
    contract.MONTH: "年月：YYYY-MM，文本格式",
    contract.MONEY: "金额：数字，最多两位小数",
    contract.CODE: "代码：从下拉列表选择",
    contract.TEXT: "文本",
}

_EXAMPLE_ID = "62010219850715123"
_EXAMPLE_USCC = "12620000MB0123456"
_TEXT_EXAMPLES = {
    "org_name": "甘肃省某某局", "approval_doc": "甘编发〔2010〕12号", "name": "张三", "post": "科员",
    "account": "6228480123456789012", "hr_status": "在职", "plan_id": "P0001", "team_region": "兰州市",
    "remark": "", "inspector": "李四",
}
_TYPE_EXAMPLES = {
    contract.ID: _EXAMPLE_ID + ids.id_check_char(_EXAMPLE_ID),
    contract.USCC: _EXAMPLE_USCC + ids.uscc_check_char(_EXAMPLE_USCC),
    contract.REGION: "620102",
    contract.DATE: "2014-03-31",
    contract.INT: "5",
    contract.MONTH: "2014-03",
    contract.MONEY: "4520.00",
}

GENERAL_RULES = (
    "每个工作表第一行为表头，请勿修改、删除或调换表头；从第二行起每行填写一条记录，不要合并单元格。",
    "工作表名称请保持不变（如“人员”），导入程序按工作表名称或表头识别数据；多个单位可分别填报，同名工作表的数据会合并导入。",
    "公民身份号码、统一社会信用代码、行政区划代码、发放月份等列已设为文本格式。"
    "请勿改为数值格式：Excel只保留15位有效数字，18位身份证号会变成6.20102E+17且无法恢复，该行将被拒收。",
    "从其他文件粘贴数据时请使用“选择性粘贴→数值”或“匹配目标格式”，以免覆盖文本格式；身份证号末位x可大小写，导入时统一为大写X。",
    "日期可填写为Excel日期，或文本 2014-03-31、2014/3/31、2014.3.31、20140331、2014年3月31日；日期必须真实存在（如不能填2月30日）。",
    "带下拉列表的列只能填写列表中的值（见“代码表”工作表），其他值会导致该行被拒收。",
    "必填列为空的行会被拒收；非必填列可以留空。核定编制数、领导职数等数量列留空视为0，领导职务层次留空视为“无”。",
    "数量列须为不小于0的整数；金额列为数字。",
    "被拒收的行会连同文件名、工作表、行号、列名和原因列入拒收清单，修改后重新报送同名文件即可替换原数据。",
    "不要在单元格中填写公式；全角数字、字母和多余空格在导入时会自动规范化。",
)


def example(column: contract.Column) -> str:
    """An example value for a column (valid for intake)."""
    if column.codes:
        return column.codes[0]
    if column.type == contract.TEXT:
        return _TEXT_EXAMPLES.get(column.name, "")
    if column.name == "region_code":
        return contract.PROVINCE_UNIT_REGION
    return _TYPE_EXAMPLES.get(column.type, "")


def text_columns(sheet: contract.Sheet) -> list[str]:
    """Headers of the columns formatted as text."""
    return [c.header for c in sheet.columns if c.type in TEXT_TYPES]


def column_note(column: contract.Column) -> str:
    """The header comment: type, required, blank meaning, note."""
    parts = [TYPE_ZH[column.type], "必填" if column.required else "可留空"]
    if column.blank is not None:
        parts.append(f"留空视为{column.blank}")
    if column.note:
        parts.append(column.note)
    return "；".join(parts)


def fields_frame(sheets: Sequence[contract.Sheet]) -> pd.DataFrame:
    """字段说明: one row per column of every sheet."""
    rows = [
        {
            "工作表": s.name, "列名": c.header, "英文字段名": c.name, "类型": TYPE_ZH[c.type],
            "是否必填": "是" if c.required else "否",
            "可选值": "、".join(c.codes),
            "留空含义": f"视为{c.blank}" if c.blank is not None else "",
            "说明": c.note,
            "示例": example(c),
        }
        for s in sheets for c in s.columns
    ]
    return pd.DataFrame(rows)


def instructions_frame(sheets: Sequence[contract.Sheet]) -> pd.DataFrame:
    """填报说明: the general rules, then what each sheet is for."""
    rows = [{"序号": i, "事项": "通用规则", "说明": text} for i, text in enumerate(GENERAL_RULES, start=1)]
    for s in sheets:
        required = "、".join(c.header for c in s.required)
        rows.append({"序号": len(rows) + 1, "事项": f"工作表“{s.name}”",
                     "说明": f"{s.description}必填列：{required}。"})
    return pd.DataFrame(rows)


_LENGTHS = {contract.ID: 18, contract.USCC: 18, contract.REGION: 6, contract.MONTH: 7}


def validations(sheet: contract.Sheet) -> dict[str, dict]:
    """Excel checks on typing for non-coded columns: counts whole and >= 0, fixed-length codes.

    Length checks only warn (an analyst may have to record a 15-digit ID as it is); counts stop.
    """
    out: dict[str, dict] = {}
    for c in sheet.columns:
        if c.type == contract.INT:
            out[c.header] = {"validate": "integer", "criteria": ">=", "value": 0, "error_title": "输入错误",
                             "error_message": f"“{c.header}”应为不小于0的整数。"}
        elif c.type in _LENGTHS:
            n = _LENGTHS[c.type]
            out[c.header] = {"validate": "length", "criteria": "==", "value": n, "error_type": "warning",
                             "error_title": "请核对", "error_message": f"“{c.header}”一般为{n}位，请核对后再确认。"}
    return out


def sheet_spec(sheet: contract.Sheet, blank_rows: int = BLANK_ROWS) -> SheetSpec:
    """An empty data sheet with the contract's headers, drop-downs, text format and header comments."""
    return SheetSpec(
        name=sheet.name,
        frame=pd.DataFrame(columns=[c.header for c in sheet.columns]),
        text_columns=text_columns(sheet),
        dropdowns={c.header: c.codes for c in sheet.columns if c.codes},
        notes={c.header: column_note(c) for c in sheet.columns},
        widths={c.header: 22 for c in sheet.columns if c.type in (contract.ID, contract.USCC)},
        blank_rows=blank_rows,
        validations=validations(sheet),
    )


def help_specs(sheets: Sequence[contract.Sheet]) -> list[SheetSpec]:
    """The 填报说明 and 字段说明 sheets."""
    return [
        SheetSpec(INSTRUCTIONS_SHEET, instructions_frame(sheets), widths={"序号": 6, "事项": 18, "说明": 110}),
        SheetSpec(FIELDS_SHEET, fields_frame(sheets), text_columns=["示例"],
                  widths={"工作表": 12, "列名": 18, "英文字段名": 18, "类型": 30, "是否必填": 9,
                          "可选值": 50, "留空含义": 10, "说明": 34, "示例": 24}),
    ]


def write_template(path: str | Path, sheets: Sequence[contract.Sheet], blank_rows: int = BLANK_ROWS) -> Path:
    """One workbook: the data sheets first (the first one opens), then the instructions."""
    specs = [sheet_spec(s, blank_rows) for s in sheets] + help_specs(sheets)
    return write_workbook(path, specs, properties=PROPERTIES)


def write_templates(out_dir: str | Path, blank_rows: int = BLANK_ROWS) -> list[Path]:
    """Every per-sheet template plus the combined 填报模板.xlsx; returns the paths written."""
    out = Path(out_dir)
    paths = [write_template(out / f"{s.name}.xlsx", [s], blank_rows) for s in TEMPLATE_SHEETS]
    paths.append(write_template(out / COMBINED_NAME, TEMPLATE_SHEETS, blank_rows))
    return paths


# ------------------------------------------------------------------------------------------ CLI
def cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="templates", help="输出目录（默认 templates/）")


def cli_run(args: argparse.Namespace) -> int:
    paths = write_templates(args.out)
    for p in paths:
        print(f"已生成模板：{p}")
    return 0
