"""A 1,000,000-row sheet loads with bounded memory (streamed in slices, never held whole).

The workbook is written with xlsxwriter's constant_memory mode; intake runs in a child process so its
peak RSS can be measured on its own. Peak RSS growth over the imported baseline must stay well below
the uncompressed size of the sheet's XML (a whole-sheet reader needs about 1.7× that size).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import duckdb
import pytest
import xlsxwriter

from workbench import contract, ids

N = 1_000_000
NUMERIC_ID_ROW = 500_001  # spreadsheet row of a person whose ID was typed as a number
BAD_CODE_ROW = N + 1      # the last row has a 编制类型 outside the code list

CHILD = r"""
import json, resource, sys
from workbench import intake
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = intake.intake([sys.argv[1]], sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
row = summary.iloc[0]
print(json.dumps({"base_kb": base, "peak_kb": peak, "read": int(row["read"]), "loaded": int(row["loaded"]),
                  "rejected": int(row["rejected"]), "status": row["status"]}))
"""


def write_big(path) -> None:
    org = "12620102MB0000001"
    org += ids.uscc_check_char(org)
    wb = xlsxwriter.Workbook(path, {"constant_memory": True})
    ws = wb.add_worksheet("人员")
    ws.write_row(0, 0, [c.header for c in contract.STAFF.columns])
    for i in range(1, N + 1):
        first17 = f"620102{19600101 + (i % 28):08d}{i % 1000:03d}"
        row = [first17 + ids.id_check_char(first17), f"人员{i}", "男", "1980-01-01", org,
               "事业编制", "专业技术人员", "科员", "", "2010-01-01"]
        if i + 1 == BAD_CODE_ROW:
            row[5] = "聘用编制"
        ws.write_row(i, 0, row)
        if i + 1 == NUMERIC_ID_ROW:
            ws.write_number(i, 0, float(row[0][:17] + "0"))
    wb.close()


@pytest.mark.slow
def test_million_row_sheet_bounded_memory(tmp_path):
    path = tmp_path / "全省人员.xlsx"
    write_big(path)
    with zipfile.ZipFile(path) as z:
        xml_size = max(i.file_size for i in z.infolist())
    ws = tmp_path / "ws.duckdb"
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(ws)], capture_output=True, text=True,
                         timeout=1500, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert (res["read"], res["loaded"], res["rejected"]) == (N, N - 2, 2)
    growth = (res["peak_kb"] - res["base_kb"]) * 1024
    assert growth < 0.5 * xml_size, f"peak RSS grew {growth / 2**20:.0f} MB for a {xml_size / 2**20:.0f} MB sheet"
    con = duckdb.connect(str(ws), read_only=True)
    try:
        assert con.execute("SELECT count(*), min(_row), max(_row) FROM staff").fetchone() == (N - 2, 2, N)
        got = con.execute('SELECT "row", "column" FROM rejects ORDER BY "row"').fetchall()
    finally:
        con.close()
    assert got == [(NUMERIC_ID_ROW, "公民身份号码"), (BAD_CODE_ROW, "编制类型")]
