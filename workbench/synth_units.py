"""Sample-province generator, part 1: the institution catalogue and vectorised code helpers.

Institutions (机构) are built from level templates (province / city / county, plus townships below
counties) on Gansu's real regions; names, categories, ranks, funding, approval documents and internal
units are realistic, codes are valid GB 32100 USCCs (``1`` 机构编制, ``1`` 机关 / ``2`` 事业单位, then
the region code).  Quotas and leader posts are filled later (synth_plant.finalise_quotas), once the
roster is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import contract as C
from . import ids, regions

# ------------------------------------------------------------------------------------------ code helpers
_USCC_INDEX = np.full(128, -1, dtype=np.int64)
for _i, _c in enumerate(ids.USCC_ALPHABET):
    _USCC_INDEX[ord(_c)] = _i
_USCC_W = np.array(ids.USCC_WEIGHTS, dtype=np.int64)
_ID_W = np.array(ids.ID_WEIGHTS, dtype=np.int64)
_ID_CHECK = np.array(list(ids.ID_CHECK))
_USCC_ALPHA = np.array(list(ids.USCC_ALPHABET))


def _codes(strings, width: int) -> np.ndarray:
    """(n, width) array of code points of fixed-width ASCII strings."""
    arr = np.asarray(list(strings), dtype=f"<U{width}")
    return arr.view(np.uint32).reshape(len(arr), width).astype(np.int64)


def id_check_chars(first17) -> np.ndarray:
    """Vectorised ISO 7064 MOD 11-2 check characters (same as ids.id_check_char)."""
    digits = _codes(first17, 17) - ord("0")
    return _ID_CHECK[(digits * _ID_W).sum(axis=1) % 11]


def uscc_check_chars(first17) -> np.ndarray:
    """Vectorised GB 32100 check characters (same as ids.uscc_check_char)."""
    idx = _USCC_INDEX[_codes(first17, 17)]
    return _USCC_ALPHA[(31 - (idx * _USCC_W).sum(axis=1) % 31) % 31]


def _gb11714(body8: np.ndarray) -> np.ndarray:
    """Check character of an 8-digit organisation code (GB 11714)."""
    digits = _codes(body8, 8) - ord("0")
    c = 11 - (digits * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
    return np.where(c == 10, "X", np.where(c == 11, "0", c.astype(str)))


def make_usccs(rng: np.random.Generator, kind_chars, region_codes, taken: set[str]) -> np.ndarray:
    """Fresh valid USCCs: '1' + ('1' 机关 | '2' 事业单位) + region + GB 11714 body + check; never in ``taken``."""
    kind_chars = np.asarray(kind_chars)
    region_codes = np.asarray(region_codes)
    n = len(region_codes)
    out = np.empty(n, dtype="<U18")
    todo = np.arange(n)
    while len(todo):
        body = np.char.zfill(rng.integers(10_000_000, 100_000_000, len(todo)).astype(str), 8)
        body = np.char.add(body, _gb11714(body))
        first = np.char.add(np.char.add(np.char.add("1", kind_chars[todo]), region_codes[todo]), body)
        code = np.char.add(first, uscc_check_chars(first))
        fresh = ~np.array([x in taken for x in code.tolist()], dtype=bool) & ~pd.Series(code).duplicated().to_numpy()
        out[todo[fresh]] = code[fresh]
        taken.update(code[fresh].tolist())
        todo = todo[~fresh]
    return out


# ------------------------------------------------------------------------------------------ catalogue
# key, name pattern ({r} = region name; dict per level where names differ), category, psi class,
# main 编制类型, funding, parent key, staff weight, leader titles (chief)
ADMIN, LEGAL, INST = "行政编制", "政法专项编制", "事业编制"
FULL, PART, SELF = C.FUNDING
P1, P2, PADM, PBIZ = "公益一类", "公益二类", "承担行政职能", C.OUT_OF_SCOPE_PSI

_LOCAL = [
    ("gov", "{r}人民政府办公室", "政府机关", None, ADMIN, FULL, None, 1.5, "主任"),
    ("party", "中共{r}委办公室", "党委机关", None, ADMIN, FULL, None, 1.3, "主任"),
    ("fin", "{r}财政局", "政府机关", None, ADMIN, FULL, None, 1.5, "局长"),
    ("edu", "{r}教育局", "政府机关", None, ADMIN, FULL, None, 1.5, "局长"),
    ("health", {"county": "{r}卫生和计划生育局", "city": "{r}卫生和计划生育委员会"}, "政府机关", None,
     ADMIN, FULL, None, 1.2, "主任"),
    ("hosp", {"county": "{r}人民医院", "city": "{r}第一人民医院"}, "事业单位", P2, INST, PART, "health", 6, "院长"),
    ("school1", "{r}第一中学", "事业单位", P1, INST, FULL, "edu", 4, "校长"),
    ("police", "{r}公安局", "政府机关", None, LEGAL, FULL, None, 4, "局长"),
    ("court", {"county": "{r}人民法院", "city": "{r}中级人民法院"}, "法院", None, LEGAL, FULL, None, 2, "院长"),
    ("procu", "{r}人民检察院", "检察院", None, LEGAL, FULL, None, 1.6, "检察长"),
    ("npc", "{r}人大常委会办公室", "人大机关", None, ADMIN, FULL, None, 1, "主任"),
    ("cppcc", "{r}政协办公室", "政协机关", None, ADMIN, FULL, None, 1, "主任"),
    ("cdc", "{r}疾病预防控制中心", "事业单位", P1, INST, FULL, "health", 1.5, "主任"),
    ("orgdep", "中共{r}委组织部", "党委机关", None, ADMIN, FULL, None, 1, "部长"),
    ("bianban", "{r}机构编制委员会办公室", "党委机关", None, ADMIN, FULL, None, 0.6, "主任"),
    ("hrss", "{r}人力资源和社会保障局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("social", "{r}社会保险事业管理局", "事业单位", PADM, INST, FULL, "hrss", 1, "局长"),
    ("civil", "{r}民政局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("justice", "{r}司法局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("union", "{r}总工会", "人民团体机关", None, ADMIN, FULL, None, 0.6, "主席"),
    ("youth", "共青团{r}委员会", "人民团体机关", None, ADMIN, FULL, None, 0.5, "书记"),
    ("women", "{r}妇女联合会", "人民团体机关", None, ADMIN, FULL, None, 0.5, "主席"),
    ("treasury", "{r}国库集中支付中心", "事业单位", PADM, INST, FULL, "fin", 0.8, "主任"),
    ("land", "{r}国土资源局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("agri", "{r}农牧局", "政府机关", None, ADMIN, FULL, None, 1.2, "局长"),
    ("agritech", "{r}农业技术推广中心", "事业单位", P1, INST, FULL, "agri", 1.2, "主任"),
    ("water", "{r}水务局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("forest", "{r}林业局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("forestst", "{r}林业工作站", "事业单位", P1, INST, FULL, "forest", 0.8, "站长"),
    ("tcm", "{r}中医医院", "事业单位", P2, INST, PART, "health", 3, "院长"),
    ("school2", "{r}第二中学", "事业单位", P1, INST, FULL, "edu", 3, "校长"),
    ("culture", "{r}文化体育局", "政府机关", None, ADMIN, FULL, None, 0.8, "局长"),
    ("tv", "{r}广播电视台", "事业单位", P2, INST, PART, "culture", 1, "台长"),
    ("archive", "{r}档案馆", "事业单位", P1, INST, FULL, "party", 0.6, "馆长"),
    ("lib", "{r}图书馆", "事业单位", P1, INST, FULL, "culture", 0.6, "馆长"),
    ("env", "{r}环境保护局", "政府机关", None, ADMIN, FULL, None, 0.8, "局长"),
    ("build", "{r}住房和城乡建设局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("transport", "{r}交通运输局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("audit", "{r}审计局", "政府机关", None, ADMIN, FULL, None, 0.7, "局长"),
    ("stat", "{r}统计局", "政府机关", None, ADMIN, FULL, None, 0.6, "局长"),
    ("dev", {"county": "{r}发展和改革局", "city": "{r}发展和改革委员会"}, "政府机关", None, ADMIN, FULL, None,
     1, "主任"),
    ("mch", {"county": "{r}妇幼保健站", "city": "{r}妇幼保健院"}, "事业单位", P1, INST, FULL, "health", 1.5, "院长"),
    ("voc", "{r}职业技术教育中心", "事业单位", P1, INST, FULL, "edu", 2, "主任"),
    ("sci", "{r}科学技术协会", "群众团体机关", None, ADMIN, FULL, None, 0.4, "主席"),
    ("disabled", "{r}残疾人联合会", "群众团体机关", None, ADMIN, FULL, None, 0.4, "理事长"),
    ("fic", "{r}工商业联合会", "工商联机关", None, ADMIN, FULL, None, 0.4, "主席"),
    ("soil", "{r}水土保持工作站", "事业单位", P1, INST, FULL, "water", 0.6, "站长"),
]
_CITY_EXTRA = [
    ("hosp2", "{r}第二人民医院", "事业单位", P2, INST, PART, "health", 4, "院长"),
    ("school3", "{r}第三中学", "事业单位", P1, INST, FULL, "edu", 3, "校长"),
    ("devzone", "{r}经济技术开发区管理委员会", "开发区管理机构", None, ADMIN, FULL, None, 1, "主任"),
    ("fund", "{r}住房公积金管理中心", "事业单位", PADM, INST, FULL, "gov", 1, "主任"),
    ("trade", "{r}公共资源交易中心", "事业单位", P1, INST, FULL, "gov", 0.8, "主任"),
    ("agrisci", "{r}农业科学研究所", "事业单位", P2, INST, PART, "agri", 1, "所长"),
    ("school4", "{r}第四中学", "事业单位", P1, INST, FULL, "edu", 3, "校长"),
    ("hosp3", "{r}第三人民医院", "事业单位", P2, INST, PART, "health", 3, "院长"),
    ("school5", "{r}第五中学", "事业单位", P1, INST, FULL, "edu", 3, "校长"),
    ("nurse", "{r}卫生学校", "事业单位", P1, INST, FULL, "edu", 2, "校长"),
]
_TOWN = [
    ("tgov", "{r}{t}人民政府", "政府机关", None, ADMIN, FULL, None, 1.4, "乡镇长"),
    ("tschool", "{r}{t}中心小学", "事业单位", P1, INST, FULL, "edu", 1.6, "校长"),
    ("tclinic", "{r}{t}卫生院", "事业单位", P1, INST, FULL, "health", 1.2, "院长"),
    ("tagri", "{r}{t}农业综合服务中心", "事业单位", P1, INST, FULL, "tgov", 0.6, "主任"),
]
TOWN_STEMS = (
    "城关", "东关", "西关", "新集", "王家", "李家", "石门", "红山", "大河", "柳湖", "三合", "马营", "金家",
    "黄羊", "龙泉", "杨家", "古城", "新庄", "南川", "北山", "高崖", "平安", "太平", "安远", "双城", "清水",
    "白土", "中川", "秦王", "何家", "青石", "新店", "红水", "小河", "西川", "东湾", "上川", "沙河", "永安",
    "华亭", "洪水", "下庄", "张家", "赵家", "石峡", "兴隆", "五里", "六盘", "花园", "官堡", "河西", "河东",
    "梨园", "杏园", "柳林", "白杨", "峡口", "店子", "榆林", "马场", "大坪", "新城", "文家", "郭家", "韩家",
    "土门", "苏家", "魏家", "芦子", "草滩", "罗家", "宁远", "安口", "崇信", "蒲河", "临河", "泉湖", "沙坝",
)
_PROVINCE = [
    ("gov", "甘肃省人民政府办公厅", "政府机关", None, ADMIN, FULL, None, 2, "秘书长"),
    ("party", "中共甘肃省委办公厅", "党委机关", None, ADMIN, FULL, None, 2, "主任"),
    ("fin", "甘肃省财政厅", "政府机关", None, ADMIN, FULL, None, 2, "厅长"),
    ("edu", "甘肃省教育厅", "政府机关", None, ADMIN, FULL, None, 2, "厅长"),
    ("health", "甘肃省卫生和计划生育委员会", "政府机关", None, ADMIN, FULL, None, 1.5, "主任"),
    ("hosp", "甘肃省人民医院", "事业单位", P2, INST, PART, "health", 10, "院长"),
    ("police", "甘肃省公安厅", "政府机关", None, LEGAL, FULL, None, 5, "厅长"),
    ("court", "甘肃省高级人民法院", "法院", None, LEGAL, FULL, None, 3, "院长"),
    ("procu", "甘肃省人民检察院", "检察院", None, LEGAL, FULL, None, 2.5, "检察长"),
    ("npc", "甘肃省人大常委会办公厅", "人大机关", None, ADMIN, FULL, None, 1.5, "秘书长"),
    ("cppcc", "甘肃省政协办公厅", "政协机关", None, ADMIN, FULL, None, 1.2, "秘书长"),
    ("orgdep", "中共甘肃省委组织部", "党委机关", None, ADMIN, FULL, None, 1.5, "部长"),
    ("bianban", "甘肃省机构编制委员会办公室", "党委机关", None, ADMIN, FULL, None, 1, "主任"),
    ("cdc", "甘肃省疾病预防控制中心", "事业单位", P1, INST, FULL, "health", 3, "主任"),
    ("dev", "甘肃省发展和改革委员会", "政府机关", None, ADMIN, FULL, None, 1.5, "主任"),
    ("hrss", "甘肃省人力资源和社会保障厅", "政府机关", None, ADMIN, FULL, None, 1.5, "厅长"),
    ("civil", "甘肃省民政厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("justice", "甘肃省司法厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("exam", "甘肃省教育考试院", "事业单位", PADM, INST, FULL, "edu", 1, "院长"),
    ("cancer", "甘肃省肿瘤医院", "事业单位", P2, INST, PART, "health", 6, "院长"),
    ("mch", "甘肃省妇幼保健院", "事业单位", P2, INST, PART, "health", 5, "院长"),
    ("propag", "中共甘肃省委宣传部", "党委机关", None, ADMIN, FULL, None, 1.2, "部长"),
    ("united", "中共甘肃省委统战部", "党委机关", None, ADMIN, FULL, None, 1, "部长"),
    ("law", "中共甘肃省委政法委员会", "党委机关", None, ADMIN, FULL, None, 1, "书记"),
    ("land", "甘肃省国土资源厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("env", "甘肃省环境保护厅", "政府机关", None, ADMIN, FULL, None, 1, "厅长"),
    ("build", "甘肃省住房和城乡建设厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("transport", "甘肃省交通运输厅", "政府机关", None, ADMIN, FULL, None, 1.5, "厅长"),
    ("water", "甘肃省水利厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("hydro", "甘肃省水文水资源局", "事业单位", P1, INST, FULL, "water", 2, "局长"),
    ("agri", "甘肃省农牧厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("agrisci", "甘肃省农业科学院", "事业单位", P2, INST, PART, "agri", 4, "院长"),
    ("agritech", "甘肃省农业技术推广总站", "事业单位", P1, INST, FULL, "agri", 1.5, "站长"),
    ("forest", "甘肃省林业厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("forestsci", "甘肃省林业科学研究院", "事业单位", P2, INST, PART, "forest", 2, "院长"),
    ("commerce", "甘肃省商务厅", "政府机关", None, ADMIN, FULL, None, 1, "厅长"),
    ("culture", "甘肃省文化厅", "政府机关", None, ADMIN, FULL, None, 1, "厅长"),
    ("lib", "甘肃省图书馆", "事业单位", P1, INST, FULL, "culture", 2, "馆长"),
    ("museum", "甘肃省博物馆", "事业单位", P1, INST, FULL, "culture", 2, "馆长"),
    ("archive", "甘肃省档案馆", "事业单位", PADM, INST, FULL, "party", 1.2, "馆长"),
    ("audit", "甘肃省审计厅", "政府机关", None, ADMIN, FULL, None, 1.2, "厅长"),
    ("stat", "甘肃省统计局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("treasury", "甘肃省财政国库支付中心", "事业单位", PADM, INST, FULL, "fin", 1, "主任"),
    ("labour", "甘肃省劳动保障监察总队", "事业单位", PADM, INST, FULL, "hrss", 1, "总队长"),
    ("talent", "甘肃省人才交流中心", "事业单位", P2, INST, PART, "hrss", 1, "主任"),
    ("union", "甘肃省总工会", "人民团体机关", None, ADMIN, FULL, None, 1, "主席"),
    ("youth", "共青团甘肃省委员会", "人民团体机关", None, ADMIN, FULL, None, 0.8, "书记"),
    ("women", "甘肃省妇女联合会", "人民团体机关", None, ADMIN, FULL, None, 0.8, "主席"),
    ("sci", "甘肃省科学技术协会", "群众团体机关", None, ADMIN, FULL, None, 0.8, "主席"),
    ("arts", "甘肃省文学艺术界联合会", "群众团体机关", None, ADMIN, FULL, None, 0.6, "主席"),
    ("disabled", "甘肃省残疾人联合会", "群众团体机关", None, ADMIN, FULL, None, 0.6, "理事长"),
    ("fic", "甘肃省工商业联合会", "工商联机关", None, ADMIN, FULL, None, 0.6, "主席"),
    ("minge", "民革甘肃省委员会", "民主党派机关", None, ADMIN, FULL, None, 0.4, "主任委员"),
    ("minmeng", "民盟甘肃省委员会", "民主党派机关", None, ADMIN, FULL, None, 0.4, "主任委员"),
    ("newzone", "兰州新区管理委员会", "开发区管理机构", None, ADMIN, FULL, None, 1.5, "主任"),
    ("hospital2", "甘肃省第二人民医院", "事业单位", P2, INST, PART, "health", 5, "院长"),
    ("tcmhosp", "甘肃省中医院", "事业单位", P2, INST, PART, "health", 5, "院长"),
    ("normal", "甘肃省陇南师范高等专科学校", "事业单位", P2, INST, PART, "edu", 4, "校长"),
    ("tech", "甘肃省工业职业技术学院", "事业单位", P2, INST, PART, "edu", 4, "院长"),
    ("traffic", "甘肃省交通科学研究院", "事业单位", P2, INST, PART, "transport", 2, "院长"),
    ("quality", "甘肃省质量技术监督局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("safety", "甘肃省安全生产监督管理局", "政府机关", None, ADMIN, FULL, None, 1, "局长"),
    ("tourism", "甘肃省旅游局", "政府机关", None, ADMIN, FULL, None, 0.8, "局长"),
    ("info", "甘肃省科技情报研究所", "事业单位", P1, INST, FULL, "sci", 1, "所长"),
]
_COLS = ["key", "pattern", "org_category", "psi_class", "main_kind", "funding", "parent_key", "weight", "chief"]

#: abbreviations used in approval documents (甘编发〔2010〕12号, 兰编发…)
_DOC_PREFIX = {"province": ("甘编发", "甘编办发", "甘机编发"), "city": ("{a}编发", "{a}编办发"),
               "county": ("{a}编发", "{a}编委发")}
_RANKS = {
    ("province", False): ("正厅级", "正厅级", "副厅级"), ("province", True): ("正处级", "副厅级", "正处级"),
    ("city", False): ("正处级",), ("city", True): ("正科级", "副处级"),
    ("county", False): ("正科级",), ("county", True): ("副科级", "股级", "正科级"),
}
#: 生产经营类 units added by the planting step (out of scope): name pattern per level
OUT_OF_SCOPE_UNITS = {"province": "甘肃省建筑设计研究院", "city": "{r}宾馆", "county": "{r}印刷厂"}


def _templates(level: str, region_name: str, rng: np.random.Generator, n_towns: int) -> pd.DataFrame:
    if level == "province":
        rows = list(_PROVINCE)
    else:
        rows = list(_LOCAL) + (list(_CITY_EXTRA) if level == "city" else [])
    frame = pd.DataFrame(rows, columns=_COLS)
    frame["name"] = [(p.get(level, p["county"]) if isinstance(p, dict) else p).format(r=region_name)
                     for p in frame["pattern"]]
    if level != "province" and n_towns:
        stems = rng.choice(np.array(TOWN_STEMS), size=min(n_towns, len(TOWN_STEMS)), replace=False)
        is_district = region_name.endswith("区")
        town_rows = []
        for t in stems:
            suffix = "街道办事处" if is_district else ("镇" if rng.random() < 0.6 else "乡")
            for key, pat, *rest in _TOWN:
                if is_district and key in ("tgov", "tagri"):
                    if key == "tagri":
                        continue
                    name = f"{region_name}{t}街道办事处"
                else:
                    town = t + ("" if is_district else suffix)
                    name = pat.format(r=region_name, t=town)
                town_rows.append((f"{key}:{t}", pat, *rest, name))
        towns = pd.DataFrame(town_rows, columns=[*_COLS, "name"])
        towns["parent_key"] = np.where(towns["parent_key"] == "tgov",
                                       "tgov:" + towns["key"].str.split(":").str[1], towns["parent_key"])
        frame = pd.concat([frame, towns], ignore_index=True)
    return frame.drop(columns="pattern")


def build_units(rng: np.random.Generator, staff_by_region: dict[str, int], taken: set[str]) -> pd.DataFrame:
    """Institutions of every region: as many template units as its staff needs (≥ 6), valid codes."""
    reg = regions.regions().set_index("region_code")
    frames = []
    for code, staff_n in staff_by_region.items():
        level, name = reg.at[code, "level"], reg.at[code, "name"]
        n_towns = 0 if level != "county" else int(rng.integers(8, 19))
        t = _templates(level, name, rng, n_towns)
        keep = int(np.clip(round(staff_n / 10), 10 if level == "province" else 6, len(t)))
        t = t.iloc[:keep].copy()
        t["region_code"] = code
        t["level"] = level
        t["abbr"] = name[0]
        frames.append(t)
    units = pd.concat(frames, ignore_index=True)
    units["is_sub"] = units["parent_key"].notna()
    units["org_code"] = make_usccs(rng, np.where(units["org_category"] == C.PUBLIC_INSTITUTION, "2", "1"),
                                   units["region_code"], taken)
    # parent codes: the template parent in the same region, if it was kept
    by_key = dict(zip(zip(units["region_code"], units["key"], strict=True), units["org_code"], strict=True))
    units["parent_org_code"] = [by_key.get((r, k)) if isinstance(k, str) else None
                                for r, k in zip(units["region_code"], units["parent_key"], strict=True)]
    return describe_units(rng, units)


def describe_units(rng: np.random.Generator, units: pd.DataFrame) -> pd.DataFrame:
    """Ranks, approval documents, internal units (and the level's region code for provincial units)."""
    n = len(units)
    units["org_rank"] = [
        _RANKS[(lv, bool(s))][i % len(_RANKS[(lv, bool(s))])]
        for lv, s, i in zip(units["level"], units["is_sub"], rng.integers(0, 6, n), strict=True)]
    units.loc[units["key"].str.startswith("t"), "org_rank"] = np.where(
        units.loc[units["key"].str.startswith("t"), "key"].str.startswith("tgov"), "正科级", "股级")
    prefix = [_DOC_PREFIX[lv][i % len(_DOC_PREFIX[lv])].format(a=a)
              for lv, a, i in zip(units["level"], units["abbr"], rng.integers(0, 3, n), strict=True)]
    years = rng.integers(1996, 2014, n).astype(str)
    nums = rng.integers(1, 120, n).astype(str)
    units["approval_doc"] = [f"{p}〔{y}〕{k}号" for p, y, k in zip(prefix, years, nums, strict=True)]
    base = np.where(units["level"] == "province", 12, np.where(units["level"] == "city", 8, 5))
    base = np.where(units["org_category"] == C.PUBLIC_INSTITUTION, base // 2, base)
    approved = np.maximum(1, base + rng.integers(-2, 4, n))
    units["approved_units"] = approved
    units["actual_units"] = approved - (rng.random(n) < 0.3)
    units["in_scope"] = units["psi_class"] != C.OUT_OF_SCOPE_PSI
    units["psi_class"] = units["psi_class"].where(units["org_category"] == C.PUBLIC_INSTITUTION, None)
    units["region_code"] = units["region_code"].astype(str)
    return units
