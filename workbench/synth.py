"""``workbench synth``: the embedded sample province with planted anomalies and its ground truth.

``generate(out_dir, persons, seed)`` writes, deterministically for a seed:

- ``inputs/<市>/<县>.xlsx`` (sheets 机构, 人员, 编外人员), ``inputs/<市>/<市>本级.xlsx``,
  ``inputs/省直/省直单位.xlsx``; ``inputs/联合审核/`` 公安核查.xlsx, 财政发放_2014-02.xlsx,
  财政发放_2014-03.xlsx, 人社信息.csv (GBK), 组织部门.xlsx; ``inputs/统计/2013统计.xlsx``;
- ``truth.csv`` (rule_id, org_code, id_number, item): the exact findings of DESIGN §5 on the loaded data,
  recorded while planting (synth_plant);
- ``expected_rejects.csv`` (file, sheet, row, column, reason): the planted rows intake must reject;
- ``manifest.json``: seed, persons, as_of, rows per sheet, files.

The pieces: synth_units (institutions, codes), synth_people (IDs, names, roster), synth_plant (world state,
planting, quotas), synth_write (dirty cells, rejects, writing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import contract as C
from . import ids, regions
from .synth_people import AS_OF, new_people, roster
from .synth_plant import (
    FEB,
    MAR,
    World,
    default_flags,
    finalise,
    payroll,
    plant_establishment,
    plant_leaders,
    plant_org_rules,
    plant_out_of_scope,
    plant_payroll,
    plant_persons,
    plant_stats,
    plant_unknown,
    stats2013,
)
from .synth_units import build_units
from .synth_write import (
    REJECT,
    blank_zero,
    dirty_codes,
    dirty_dates,
    dirty_ids,
    headers,
    insert_row,
    pick,
    reject_positions,
    write_gbk_csv,
    write_xlsx,
)

PLANTED = 130  # about how many roster rows one planting round adds
PERSONS_PER_ROUND = 25000  # larger samples repeat the planting block (more findings, more regions)
PROVINCE_DIR = "省直"
JOINT_DIR = "联合审核"
STATS_DIR = "统计"


# ------------------------------------------------------------------------------------------ the world
def _staff_by_region(rng: np.random.Generator, normal: int) -> dict[str, int]:
    reg = regions.regions()
    w = np.where(reg["level"] == "province", 9.0, np.where(reg["level"] == "city", 1.2, 0.0))
    counties = (reg["level"] == "county").to_numpy()
    w[counties] = rng.lognormal(0, 0.45, counties.sum()) * 74.0 / counties.sum()
    w[(reg["region_code"] == "620200").to_numpy()] = 2.0  # 嘉峪关: a city without counties
    counts = rng.multinomial(normal, w / w.sum())
    return dict(zip(reg["region_code"], counts.tolist(), strict=True))


def _offstaff(rng: np.random.Generator, units: pd.DataFrame, n: int, taken: set) -> pd.DataFrame:
    """Normal 编外人员: fresh people in in-scope units, never on the payroll (so never counted as paid)."""
    u = units[units["in_scope"]]
    pick_units = u.iloc[rng.choice(len(u), n, p=(u["weight"] / u["weight"].sum()).to_numpy())]
    sexes = np.where(rng.random(n) < 0.5, "男", "女")
    p = new_people(rng, pick_units["region_code"].to_numpy(), sexes, ["管理人员"] * n, taken, min_age=20, max_age=45)
    start = np.datetime64("2005-01-01") + rng.integers(0, 3300, n).astype("timedelta64[D]")
    return pd.DataFrame({"id_number": p["id_number"], "name": p["name"], "org_code": pick_units["org_code"].to_numpy(),
                         "employment_form": np.array(C.EMPLOYMENT_FORMS)[rng.integers(0, 4, n)],
                         "funding_source": np.where(rng.random(n) < 0.6, "财政", "自筹"), "start_date": start})


def rounds(persons: int) -> int:
    """How many times the planting block runs: once up to ~37,000 persons, 20 times for 500,000."""
    return max(1, round(persons / PERSONS_PER_ROUND))


def build_world(persons: int, seed: int) -> World:
    """Units, normal roster and off-staff, then every planting, then quotas and posts."""
    rng = np.random.default_rng(seed)
    taken_ids: set = set()
    taken_codes: set = set()
    normal = max(persons - PLANTED * rounds(persons), 300)
    by_region = _staff_by_region(rng, normal)
    units = build_units(rng, by_region, taken_codes).rename(columns={"name": "org_name"})
    counts = np.zeros(len(units), dtype=np.int64)
    for code, n in by_region.items():
        m = np.flatnonzero(units["region_code"].to_numpy() == code)
        wts = units["weight"].to_numpy()[m]
        counts[m] = rng.multinomial(n, wts / wts.sum())
    staff = default_flags(rng, roster(rng, units, counts, taken_ids), units)
    off = _offstaff(rng, units, max(int(normal * 0.08), 20), taken_ids)
    w = World(rng=rng, units=units, staff=staff, offstaff=off, taken_ids=taken_ids, taken_codes=taken_codes)
    for r in range(rounds(persons)):
        w.round = r
        plant_org_rules(w)  # first: recodes units, so later references use the final codes
        if r == 0:
            plant_out_of_scope(w)
        plant_unknown(w)
        plant_establishment(w)
        plant_leaders(w)
        plant_persons(w)
        plant_payroll(w)
        plant_stats(w)
    finalise(w)
    return w


# ------------------------------------------------------------------------------------------ sheet frames
def _file_of(reg: pd.DataFrame) -> dict[str, str]:
    """region code -> workbook path relative to inputs/."""
    names = dict(zip(reg["region_code"], reg["name"], strict=True))
    out = {}
    for code, level, parent in zip(reg["region_code"], reg["level"], reg["parent_code"], strict=True):
        if level == "province":
            out[code] = f"{PROVINCE_DIR}/省直单位.xlsx"
        elif level == "city":
            out[code] = f"{names[code]}/{names[code]}本级.xlsx"
        else:
            out[code] = f"{names[parent]}/{names[code]}.xlsx"
    return out


def _regions_by_org(w: World) -> dict[str, str]:
    return {**dict(zip(w.units["org_code"], w.units["region_code"], strict=True)), **w.unknown}


def _orgs_frame(rng: np.random.Generator, w: World) -> pd.DataFrame:
    u = w.units
    f = pd.DataFrame({
        "org_code": dirty_codes(rng, u["org_code"], 0.005), "org_name": u["org_name"].to_numpy(dtype=object),
        "region_code": u["region_code"].to_numpy(dtype=object), "org_category": u["org_category"].to_numpy(dtype=object),
        "psi_class": u["psi_class"].to_numpy(dtype=object), "org_rank": u["org_rank"].to_numpy(dtype=object),
        "parent_org_code": u["parent_org_code"].to_numpy(dtype=object),
        "approval_doc": u["approval_doc"].to_numpy(dtype=object), "funding": u["funding"].to_numpy(dtype=object),
    })
    for col in ("approved_units", "actual_units", *C.EST_KINDS.values(), *C.LEADER_LEVELS.values()):
        f[col] = blank_zero(rng, u[col].to_numpy().astype(np.int64), 0.0 if "units" in col else 0.5)
    pos = {c: i for i, c in enumerate(u["org_code"])}
    for org, col in w.blank_cells:
        f.at[pos[org], col] = None
    for org in w.whitespace_doc:
        f.at[pos[org], "approval_doc"] = "   "
    f["approval_doc"] = f["approval_doc"].where(f["approval_doc"].notna(), None)
    spaced = pick(rng, len(f), 0.005)
    f.loc[spaced, "org_name"] = [" " + s.replace("局", " 局", 1) + " " for s in f.loc[spaced, "org_name"]]
    f["_region"] = u["region_code"].to_numpy()
    return f


def _staff_frame(rng: np.random.Generator, w: World) -> pd.DataFrame:
    s = w.staff.sample(frac=1.0, random_state=rng.integers(0, 2**31)).reset_index(drop=True)
    order = {c: i for i, c in enumerate(w.units["org_code"])}
    s = s.iloc[np.argsort(s["org_code"].map(order).fillna(len(order)).to_numpy(), kind="stable")]
    s = s.reset_index(drop=True)
    ids_out = dirty_ids(rng, s["id_number"])
    forced = s["id_out"].notna().to_numpy()
    ids_out[forced] = s.loc[forced, "id_out"].to_numpy()
    names_ = s["name"].to_numpy(dtype=object).copy()
    sp = pick(rng, len(s), 0.01)
    names_[sp] = [(n[0] + "  " + n[1:]) if i % 2 else (n + " ") for i, n in enumerate(names_[sp])]
    level = s["leader_level"].to_numpy(dtype=object).copy()
    level[(level == C.NO_LEADER) & (rng.random(len(s)) < 0.5)] = None
    f = pd.DataFrame({
        "id_number": ids_out, "name": names_, "sex": s["sex_out"].to_numpy(dtype=object),
        "birth_date": dirty_dates(rng, s["birth_out"]), "org_code": dirty_codes(rng, s["org_code"]),
        "est_kind": s["est_kind"].to_numpy(dtype=object), "staff_class": s["staff_class"].to_numpy(dtype=object),
        "post": s["post"].to_numpy(dtype=object), "leader_level": level,
        "entry_date": dirty_dates(rng, s["entry_date"]),
    })
    f["sex"] = f["sex"].where(f["sex"].notna(), None)
    f["_region"] = s["org_code"].map(_regions_by_org(w)).to_numpy()
    return f


def _off_frame(rng: np.random.Generator, w: World) -> pd.DataFrame:
    o = w.offstaff
    f = pd.DataFrame({
        "id_number": dirty_ids(rng, o["id_number"]), "name": o["name"].to_numpy(dtype=object),
        "org_code": o["org_code"].to_numpy(dtype=object), "employment_form": o["employment_form"].to_numpy(dtype=object),
        "funding_source": o["funding_source"].to_numpy(dtype=object), "start_date": dirty_dates(rng, o["start_date"]),
    })
    f["_region"] = o["org_code"].map(_regions_by_org(w)).to_numpy()
    return f


def _payroll_frames(rng: np.random.Generator, w: World) -> dict[str, pd.DataFrame]:
    pay = payroll(w)
    ids_ = pd.Index(pay["id_number"].unique())
    serial = rng.permutation(np.cumsum(rng.integers(1, 5000, len(ids_))))  # unique, unordered
    acct = np.char.add("6228480", np.char.zfill(serial.astype(str), 12))
    accounts = pd.Series(acct, index=ids_).reindex(pay["id_number"]).to_numpy(dtype=object)
    hit = np.flatnonzero(pay["id_number"].isin({i for i, _ in w.account_override}).to_numpy())
    for i in hit:
        key = (pay["id_number"].iat[i], pay["pay_month"].iat[i])
        if key in w.account_override:
            accounts[i] = w.account_override[key] or None
    base = rng.integers(2800, 9000, len(ids_))
    amount = pd.Series(base, index=ids_).reindex(pay["id_number"]).to_numpy() + np.where(
        pay["pay_month"].to_numpy() == MAR, 0, -rng.integers(0, 3, len(pay)) * 50)
    f = pd.DataFrame({"id_number": dirty_ids(rng, pay["id_number"]), "name": pay["name"].to_numpy(dtype=object),
                      "org_code": dirty_codes(rng, pay["org_code"]), "account": accounts,
                      "pay_month": pay["pay_month"].to_numpy(dtype=object),
                      "amount": (amount + rng.integers(0, 100, len(pay)) / 100.0).round(2)})
    return {m: f[f["pay_month"] == m].reset_index(drop=True) for m in (FEB, MAR)}


def _joint_frames(rng: np.random.Generator, w: World) -> dict[str, pd.DataFrame]:
    s = w.staff
    pol = s.drop_duplicates("id_number")
    police = pd.DataFrame({"id_number": dirty_ids(rng, pol["id_number"]),
                           "name": pol["police_name"].to_numpy(dtype=object),
                           "police_result": pol["police"].to_numpy(dtype=object)})
    h = s[s["hr"].astype(bool)].drop_duplicates(["id_number", "hr_org"])
    status = np.where(h["staff_class"].isin(["公务员", "参照公务员法管理"]), "公务员",
                      np.where(h["staff_class"] == C.WORKER_CLASS, "机关事业单位工勤人员", "事业单位工作人员"))
    hr = pd.DataFrame({"id_number": dirty_ids(rng, h["id_number"], 0.02), "name": h["name"].to_numpy(dtype=object),
                       "org_code": dirty_codes(rng, h["hr_org"]), "hr_status": status})
    o = s[(s["leader_level"] != C.NO_LEADER) & s["odept"].astype(bool)].drop_duplicates(
        ["id_number", "odept_org", "odept_level"])
    orgdept = pd.DataFrame({"id_number": dirty_ids(rng, o["id_number"]), "name": o["name"].to_numpy(dtype=object),
                            "org_code": o["odept_org"].to_numpy(dtype=object),
                            "leader_level": o["odept_level"].to_numpy(dtype=object)})
    st = stats2013(w)
    stats = pd.DataFrame({"org_code": dirty_codes(rng, st["org_code"]), "est_kind": st["est_kind"].to_numpy(dtype=object),
                          "quota": st["quota"].to_numpy(dtype=np.int64).astype(object),
                          "actual": st["actual"].to_numpy(dtype=np.int64).astype(object)})
    return {"police": police, "hr": hr, "orgdept": orgdept, "stats": stats}


# ------------------------------------------------------------------------------------------ rejects
def _plant_rejects(rng: np.random.Generator, w: World, books: dict, joint: dict) -> None:
    """Extra rows intake must reject (fresh IDs/codes: rejecting them changes no finding)."""
    files = sorted(f for f in books if "人员" in books[f] and len(books[f]["人员"]))
    fresh = new_people(rng, ["620102"] * 12, np.array(["男", "女"] * 6), ["公务员"] * 12, w.taken_ids)
    ids_ = fresh["id_number"].tolist()

    def staff_row(frame, k):
        row = frame.drop(columns=[REJECT], errors="ignore").iloc[int(rng.integers(0, len(frame)))].to_dict()
        row.update(id_number=ids_[k], name=fresh["name"].iloc[k], leader_level=None, sex=fresh["sex"].iloc[k],
                   birth_date=pd.Timestamp(fresh["birth_date"].iloc[k]).strftime("%Y-%m-%d"))
        return row

    specs = [
        ("公民身份号码", "身份证号以数字形式存储，无法恢复", {"id_number": float(ids_[0][:17] + "0")}),
        ("姓名", "必填项为空", {"name": None}),
        ("编制类型", "不在代码表中", {"est_kind": "聘用编制"}),
        ("进入本单位时间", "日期不存在", {"entry_date": "2014-02-30"}),
    ]
    for k, (col, reason, change) in enumerate(specs):
        f = files[(k * 7) % len(files)]
        frame = books[f]["人员"]
        row = staff_row(frame, k)
        row.update(change)
        books[f]["人员"] = insert_row(rng, frame, row, col, reason)
    # 机构: non-numeric quota, negative quota, region code not in regions.csv, a second row for a key.
    org_files = sorted(f for f in books if len(books[f].get("机构", [])))
    for k, (col, value, reason) in enumerate([
        ("quota_admin", "十二", "不是整数"), ("quota_inst", -3, "不能为负数"), ("region_code", "620199", "行政区划代码不存在"),
    ]):
        f = org_files[(k * 11 + 3) % len(org_files)]
        frame = books[f]["机构"]
        row = frame.drop(columns=[REJECT], errors="ignore").iloc[int(rng.integers(0, len(frame)))].to_dict()
        region = "620000" if col == "region_code" else str(row["region_code"]).strip()
        inst = row["org_category"] == C.PUBLIC_INSTITUTION
        row.update(org_code=w.fresh_code(region if col != "region_code" else "620102", inst=inst),
                   org_name=str(row["org_name"]).strip() + "服务中心", parent_org_code=None)
        row[col] = value
        books[f]["机构"] = insert_row(rng, frame, row, C.ORGS.column(col).header, reason)
    f = org_files[len(org_files) // 2]
    frame = books[f]["机构"]
    j = int(rng.integers(0, len(frame)))
    row = frame.drop(columns=[REJECT], errors="ignore").iloc[j].to_dict()
    row.update(approval_doc=None, quota_admin=99, org_name=str(row["org_name"]).strip() + "（重复填报）")
    books[f]["机构"] = insert_row(rng, frame, row, C.ORGS.column("org_code").header, "机构代码重复，以首行为准",
                                 after=j)
    # 编外人员: employment form outside its list.
    f = next(f for f in files if len(books[f].get("编外人员", [])))
    frame = books[f]["编外人员"]
    row = frame.drop(columns=[REJECT], errors="ignore").iloc[0].to_dict()
    row.update(id_number=ids_[5], name=fresh["name"].iloc[5], employment_form="借调")
    books[f]["编外人员"] = insert_row(rng, frame, row, C.OFFSTAFF.column("employment_form").header, "不在代码表中")
    # joint-review sheets: a pay month that is not a month (each month file), a police result outside the
    # list, a 组织部门 row without its level, an HR row without its unit, a 2013统计 count that is text.
    payer = w.units.loc[w.units["in_scope"], "org_code"].iloc[0]
    for k, (month, bad) in enumerate(((FEB, "2014-13"), (MAR, "三月份"))):
        row = {"id_number": ids_[6 + k], "name": fresh["name"].iloc[6 + k], "org_code": payer,
               "account": f"62284800000000{k}9999", "pay_month": bad, "amount": 4321.0}
        joint[f"pay:{month}"] = insert_row(rng, joint[f"pay:{month}"], row, C.PAYROLL.column("pay_month").header,
                                           "发放月份不是有效月份")
    joint["police"] = insert_row(rng, joint["police"], {"id_number": ids_[8], "name": fresh["name"].iloc[8],
                                                        "police_result": "待核实"},
                                 C.POLICE.column("police_result").header, "不在代码表中")
    joint["orgdept"] = insert_row(rng, joint["orgdept"], {"id_number": ids_[9], "name": fresh["name"].iloc[9],
                                                          "org_code": payer, "leader_level": None},
                                  C.ORGDEPT.column("leader_level").header, "必填项为空")
    joint["hr"] = insert_row(rng, joint["hr"], {"id_number": ids_[10], "name": fresh["name"].iloc[10],
                                                "org_code": None, "hr_status": "公务员"},
                             C.HR.column("org_code").header, "必填项为空")
    joint["stats"] = insert_row(rng, joint["stats"], {"org_code": w.fresh_code("620000"), "est_kind": "行政编制",
                                                      "quota": "十五", "actual": 3},
                                C.STATS2013.column("quota").header, "不是整数")


# ------------------------------------------------------------------------------------------ generate
def generate(out_dir, persons: int = 50000, seed: int = 20140331) -> dict:
    """Write the sample province under ``out_dir`` (see module docstring); returns the manifest."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    inputs = out / "inputs"
    if inputs.exists():
        shutil.rmtree(inputs)
    w = build_world(persons, seed)
    rng = np.random.default_rng([seed, 1])
    reg = regions.regions()
    file_of = _file_of(reg)
    orgs = _orgs_frame(rng, w)
    staff = _staff_frame(rng, w)
    off = _off_frame(rng, w)
    books: dict[str, dict[str, pd.DataFrame]] = {}
    for sheet, frame in (("机构", orgs), ("人员", staff), ("编外人员", off)):
        files = frame["_region"].map(file_of)
        for f, part in frame.groupby(files, sort=True):
            books.setdefault(f, {})[sheet] = part.drop(columns="_region").reset_index(drop=True)
    for f in books:  # every region's workbook has all three sheets, even when one has no rows
        for sheet, frame in (("机构", orgs), ("人员", staff), ("编外人员", off)):
            books[f].setdefault(sheet, frame.drop(columns="_region").iloc[:0])
    joint = _joint_frames(rng, w)
    for m, frame in _payroll_frames(rng, w).items():
        joint[f"pay:{m}"] = frame
    _plant_rejects(rng, w, books, joint)

    outputs: list[tuple[str, C.Sheet, pd.DataFrame]] = []
    for f in sorted(books):
        for sheet in (C.ORGS, C.STAFF, C.OFFSTAFF):
            if sheet.name in books[f]:
                outputs.append((f, sheet, headers(sheet, books[f][sheet.name])))
    outputs += [
        (f"{JOINT_DIR}/公安核查.xlsx", C.POLICE, headers(C.POLICE, joint["police"])),
        (f"{JOINT_DIR}/财政发放_{FEB}.xlsx", C.PAYROLL, headers(C.PAYROLL, joint[f"pay:{FEB}"])),
        (f"{JOINT_DIR}/财政发放_{MAR}.xlsx", C.PAYROLL, headers(C.PAYROLL, joint[f"pay:{MAR}"])),
        (f"{JOINT_DIR}/人社信息.csv", C.HR, headers(C.HR, joint["hr"])),
        (f"{JOINT_DIR}/组织部门.xlsx", C.ORGDEPT, headers(C.ORGDEPT, joint["orgdept"])),
        (f"{STATS_DIR}/2013统计.xlsx", C.STATS2013, headers(C.STATS2013, joint["stats"])),
    ]
    by_file: dict[str, list] = {}
    rejects, counts = [], {}
    for f, sheet, frame in outputs:
        by_file.setdefault(f, []).append((sheet, frame))
        rejects += [(f, sheet.name, r, c, why) for r, c, why in reject_positions(frame)]
        counts[sheet.name] = counts.get(sheet.name, 0) + len(frame)
    for f, sheets in by_file.items():
        if f.endswith(".csv"):
            write_gbk_csv(inputs / f, *sheets[0])
        else:
            write_xlsx(inputs / f, sheets)

    truth = pd.DataFrame(sorted(set(w.truth)), columns=["rule_id", "org_code", "id_number", "item"])
    truth["id_number"] = ids.normalize_id(truth["id_number"]).fillna("")
    truth.to_csv(out / "truth.csv", index=False, encoding="utf-8")
    pd.DataFrame(rejects, columns=["file", "sheet", "row", "column", "reason"]).to_csv(
        out / "expected_rejects.csv", index=False, encoding="utf-8")
    manifest = {
        "seed": seed, "persons": persons, "as_of": str(AS_OF), "planting_rounds": rounds(persons), "staff_rows": len(w.staff),
        "units": len(w.units), "rows_per_sheet": counts, "files": sorted(by_file),
        "truth_findings": len(truth), "expected_rejects": len(rejects),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return {**manifest, "seconds": round(time.perf_counter() - t0, 2)}


# ------------------------------------------------------------------------------------------ CLI
def cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="输出目录（生成 inputs/、truth.csv、expected_rejects.csv）")
    parser.add_argument("--persons", type=int, default=50000, help="在编人员约数（默认50000；500000为全省基准数据）")
    parser.add_argument("--seed", type=int, default=20140331, help="随机种子（相同种子生成相同数据）")


def cli_run(args: argparse.Namespace) -> int:
    m = generate(args.out, persons=args.persons, seed=args.seed)
    print(f"已生成示例省数据：{m['staff_rows']} 条人员记录，{m['units']} 个机构，"
          f"{len(m['files'])} 个文件，预置问题 {m['truth_findings']} 条，预置被拒行 {m['expected_rejects']} 条，"
          f"用时 {m['seconds']} 秒 → {args.out}")
    return 0


__all__ = ["cli_arguments", "cli_run", "generate", "rounds"]
