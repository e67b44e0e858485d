"""A small hand-built workspace for the report tests (used when the shared sample fixture is unavailable).

Every region of the province gets two units with a few staff; some findings are planted on purpose (over
quota, a duplicate person, a deceased person, a payroll ghost); the real rule catalogue then runs on it.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from workbench import ids, regions, workspace


def uscc(region: str, serial: int) -> str:
    first17 = f"12{region}{serial:08d}0"[:17]
    return first17 + ids.uscc_check_char(first17)


def person_id(region: str, serial: int, year: int = 1975) -> str:
    first17 = f"{region}{year}0101{serial % 1000:03d}"
    return first17 + ids.id_check_char(first17)


def build(path: Path, seed: int = 1) -> Path:
    rnd = random.Random(seed)
    orgs, staff, payroll, police, orgdept, hr = [], [], [], [], [], []
    serial = 0
    for reg in regions.regions().itertuples():
        for k in range(2):
            serial += 1
            code = uscc(reg.region_code, serial)
            orgs.append(dict(org_code=code, org_name=f"{reg.name}测试单位{k + 1}", region_code=reg.region_code,
                             org_category="政府机关", approval_doc="甘编发〔2010〕1号" if serial % 7 else None,
                             funding="财政全额拨款", approved_units=3, actual_units=3 + (serial % 5 == 0),
                             quota_admin=3, quota_legal=0, quota_inst=0, quota_worker=1,
                             approved_chief=1, approved_deputy=1))
            n = rnd.randint(2, 5)
            for j in range(n):
                pid = person_id(reg.region_code, serial * 10 + j)
                kind = "行政编制" if j < 4 else "工勤编制"
                lvl = "正职" if j == 0 else "无"
                staff.append(dict(id_number=pid, name=f"张{serial}{j}", org_code=code, est_kind=kind,
                                  staff_class="公务员", leader_level=lvl))
                payroll.append(dict(id_number=pid, org_code=code, account=f"A{serial}{j}", pay_month="2014-03",
                                    amount=3000))
                police.append(dict(id_number=pid, police_result="已死亡" if serial % 23 == 0 and j == 1 else "一致"))
                hr.append(dict(id_number=pid, org_code=code))
                if lvl == "正职":
                    orgdept.append(dict(id_number=pid, org_code=code, leader_level="正职"))
            if serial % 11 == 0:  # a payroll ghost
                payroll.append(dict(id_number=person_id(reg.region_code, 999), org_code=code, account="G1",
                                    pay_month="2014-03", amount=3000))
    # a person on two rosters
    dup = dict(staff[0])
    dup["org_code"] = orgs[3]["org_code"]
    staff.append(dup)
    # a provincial unit with a subordinate institution
    head, sub = uscc("620000", 90001), uscc("620000", 90002)
    orgs.append(dict(org_code=head, org_name="省测试厅", region_code="620000", org_category="政府机关",
                     approval_doc="甘编发〔2010〕2号", funding="财政全额拨款", approved_units=5, actual_units=5,
                     quota_admin=2, quota_legal=0, quota_inst=0, quota_worker=0, approved_chief=1, approved_deputy=2))
    orgs.append(dict(org_code=sub, org_name="省测试厅直属中心", region_code="620000", org_category="事业单位",
                     psi_class="公益一类", parent_org_code=head, approval_doc=None, funding="财政全额拨款",
                     approved_units=1, actual_units=1, quota_admin=0, quota_legal=0, quota_inst=1,
                     quota_worker=0, approved_chief=1, approved_deputy=0))
    for j, org in enumerate([head, head, head, sub, sub]):
        pid = person_id("620102", 5000 + j)
        staff.append(dict(id_number=pid, name=f"李{j}", org_code=org, est_kind="行政编制" if org == head else "事业编制",
                          staff_class="公务员", leader_level="无"))
        payroll.append(dict(id_number=pid, org_code=org, account=f"P{j}", pay_month="2014-03", amount=4000))
    frames = {"orgs": orgs, "staff": staff, "payroll": payroll, "police": police, "orgdept": orgdept, "hr": hr}
    with workspace.writer(path) as con:
        for table, rows in frames.items():
            df = pd.DataFrame(rows)
            cols = ", ".join(f'"{c}"' for c in df.columns)
            con.register("_rows", df)
            con.execute(f'INSERT INTO "{table}" ({cols}, _file, _sheet, _row, _load_id) '
                        f"SELECT {cols}, 'test.xlsx', '{table}', 1, 1 FROM _rows")
            con.unregister("_rows")
            con.execute("INSERT INTO loads VALUES (1, 'test.xlsx', 'test.xlsx', 'ab' || ?, 1, ?, ?, ?, ?, 0,"
                        " now(), 'ok', NULL)", [table, table, table, len(df), len(df)])
        con.execute("INSERT INTO rejects VALUES (1, 'test.xlsx', '人员', 'staff', 7, '编制类型', '行政', "
                    "'不在代码表中', '620102', NULL, NULL)")
    from workbench import rules

    rules.run_check(path)
    return path
