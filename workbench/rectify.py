"""Rectification workbooks (整改台账): one row per finding of a region or unit, with columns to fill in.

The findings are those the report lists (latest rule run, via :mod:`workbench.summaries`); ID numbers are
masked unless full disclosure is asked for. Written through :func:`workbench.xlsx.write_workbook`, so no cell becomes a
formula and the ID column stays text.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from . import contract, regions, xlsx

SHEET_NAME = "整改台账"
PII_MASKED, PII_FULL = "masked", "full"


def findings_frame(workspace: str | os.PathLike, code: str, pii: str = PII_MASKED, con=None) -> pd.DataFrame:
    """The findings of a report's scope (a region with the regions below it, or a provincial unit with the
    institutions under it), as :func:`workbench.reportkit.findings` lists them in the report. ``con``: an
    open reader on the workspace snapshot to reuse (else one is opened and closed)."""
    from . import reportkit

    rep = reportkit.open_report(str(workspace), code, pii, con=con)
    try:
        return reportkit.findings(rep)
    finally:
        if con is None:
            rep.con.close()


def rectification_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """The ledger's columns (Chinese headers): 序号, the finding, then 整改措施/责任人/完成时限/整改状态."""
    h = contract.FINDING_HEADERS
    out = pd.DataFrame({
        "序号": range(1, len(findings) + 1),
        h["rule_id"]: findings["rule_id"].to_numpy(),
        h["title"]: findings["title"].to_numpy(),
        h["severity"]: findings["severity"].map(contract.SEVERITY_ZH).fillna(findings["severity"]).to_numpy(),
        h["region_code"]: findings["region_code"].to_numpy(),
        "地区名称": findings["region_code"].map(regions.name_of).to_numpy(),
        h["org_code"]: findings["org_code"].to_numpy(),
        "机构名称": findings["org_name"].to_numpy(),
        h["id_number"]: findings["id_number"].to_numpy(),
        h["item"]: findings["item"].to_numpy(),
        h["detail"]: findings["detail"].to_numpy(),
    })
    rc = contract.RECTIFY_COLUMNS
    for key in ("measure", "owner", "deadline"):
        out[rc[key]] = None
    out[rc["status"]] = contract.RECTIFY_STATUSES[0]
    return out


def write_rectification(path: str | os.PathLike, findings: pd.DataFrame, title: str = "") -> Path:
    """Write the 整改台账 workbook atomically (formula-safe, ID/code columns as text, status drop-down)."""
    frame = rectification_frame(findings)
    h, rc = contract.FINDING_HEADERS, contract.RECTIFY_COLUMNS
    spec = xlsx.SheetSpec(
        name=SHEET_NAME,
        frame=frame,
        text_columns=(h["region_code"], h["org_code"], h["id_number"]),
        dropdowns={rc["status"]: contract.RECTIFY_STATUSES},
        widths={h["title"]: 28, h["detail"]: 48, "机构名称": 30, h["org_code"]: 22, h["id_number"]: 22,
                rc["measure"]: 36, rc["owner"]: 12, rc["deadline"]: 14, rc["status"]: 12},
        blank_rows=20,
        validations={rc["deadline"]: {"validate": "date", "criteria": ">=", "value": dt.datetime(2000, 1, 1),
                                      "error_title": "输入错误", "error_message": "“完成时限”请填写日期，如 2014-06-30。"}},
        notes={rc["measure"]: "填写具体整改措施", rc["owner"]: "填写责任单位及责任人",
               rc["deadline"]: "填写完成日期，格式如 2014-06-30",
               rc["status"]: "从下拉列表选择：" + "、".join(contract.RECTIFY_STATUSES),
               **({"序号": title} if title else {})},
    )
    return xlsx.write_workbook(path, [spec])
