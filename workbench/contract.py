"""The intake contract (DESIGN §3): every sheet, its Chinese headers, canonical columns, types and code lists.

This module is the only place where a Chinese header or a code list is spelled out; templates, intake,
the synthetic generator, rules, reports and dashboards all import from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------------- code lists
ORG_CATEGORIES = (
    "党委机关", "人大机关", "政府机关", "政协机关", "法院", "检察院", "民主党派机关",
    "工商联机关", "人民团体机关", "群众团体机关", "事业单位", "开发区管理机构",
)
PUBLIC_INSTITUTION = "事业单位"
PSI_CLASSES = ("承担行政职能", "公益一类", "公益二类", "生产经营类")
OUT_OF_SCOPE_PSI = "生产经营类"
ORG_RANKS = ("正厅级", "副厅级", "正处级", "副处级", "正科级", "副科级", "股级", "未定级")
FUNDING = ("财政全额拨款", "财政差额拨款", "自收自支")
FULL_FUNDING = "财政全额拨款"

#: 编制类型 -> the 机构 quota column holding it.
EST_KINDS = {
    "行政编制": "quota_admin",
    "政法专项编制": "quota_legal",
    "事业编制": "quota_inst",
    "工勤编制": "quota_worker",
}
STAFF_CLASSES = ("公务员", "参照公务员法管理", "管理人员", "专业技术人员", "工勤技能人员")
WORKER_CLASS = "工勤技能人员"
SEXES = ("男", "女")
#: 领导职务层次 -> the 机构 column with its approved posts.
LEADER_LEVELS = {"正职": "approved_chief", "副职": "approved_deputy"}
NO_LEADER = "无"
EMPLOYMENT_FORMS = ("劳务派遣", "合同聘用", "公益性岗位", "临时聘用")
FUNDING_SOURCES = ("财政", "自筹")
POLICE_RESULTS = ("一致", "姓名不一致", "号码不存在", "已死亡", "已注销")
POLICE_MISMATCH = ("姓名不一致", "号码不存在")
POLICE_DECEASED = ("已死亡", "已注销")
ONSITE_RESULTS = ("在岗", "不在岗", "查无此人")
RECTIFY_STATUSES = ("未整改", "整改中", "已整改", "无需整改")
SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低", "info": "提示"}
PROVINCE_UNIT_REGION = "620000"
#: The four clears (四清, DESIGN §1); every rule belongs to one of them.
CLEAR_ORG, CLEAR_EST, CLEAR_LEADER, CLEAR_PERSON = "机构清", "编制清", "领导职数清", "实有人员清"
CLEARS = (CLEAR_ORG, CLEAR_EST, CLEAR_LEADER, CLEAR_PERSON)

# column types understood by intake and templates
TEXT, ID, USCC, REGION, DATE, INT, MONTH, MONEY, CODE = (
    "text", "id", "uscc", "region", "date", "int", "month", "money", "code",
)


@dataclass(frozen=True)
class Column:
    """One column of a sheet: canonical name, Chinese header, type, required flag and code list."""

    name: str
    header: str
    type: str = TEXT
    required: bool = False
    codes: tuple[str, ...] = ()
    blank: str | None = None  # value a blank cell stands for (e.g. 0 for quotas, 无 for leader level)
    note: str = ""

    @property
    def sql_type(self) -> str:
        return {DATE: "DATE", INT: "BIGINT", MONEY: "DECIMAL(14,2)"}.get(self.type, "VARCHAR")


@dataclass(frozen=True)
class Sheet:
    """One intake sheet: Chinese name, workspace table, columns and unique key."""

    name: str
    table: str
    title: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def header_map(self) -> dict[str, str]:
        """Every accepted header (Chinese or canonical) -> canonical name."""
        out = {c.header: c.name for c in self.columns}
        out.update({c.name: c.name for c in self.columns})
        return out


ORGS = Sheet(
    name="机构",
    table="orgs",
    title="institutions",
    key=("org_code",),
    description="机构编制情况：每个机构一行，以统一社会信用代码为键。",
    columns=(
        Column("org_code", "统一社会信用代码", USCC, True, note="18位，符合GB 32100"),
        Column("org_name", "机构名称", TEXT, True),
        Column("region_code", "行政区划代码", REGION, True, note="6位行政区划代码，省直单位填620000"),
        Column("org_category", "机构类别", CODE, True, ORG_CATEGORIES),
        Column("psi_class", "事业单位类别", CODE, False, PSI_CLASSES, note="仅事业单位填写"),
        Column("org_rank", "机构规格", CODE, False, ORG_RANKS),
        Column("parent_org_code", "主管部门代码", USCC, False, note="一级部门留空"),
        Column("approval_doc", "批准文号", TEXT, False, note="如 甘编发〔2010〕12号；留空视为未经批准"),
        Column("funding", "经费形式", CODE, False, FUNDING),
        Column("approved_units", "核定内设机构数", INT, False, blank="0"),
        Column("actual_units", "实有内设机构数", INT, False, blank="0"),
        Column("quota_admin", "核定行政编制", INT, False, blank="0"),
        Column("quota_legal", "核定政法专项编制", INT, False, blank="0"),
        Column("quota_inst", "核定事业编制", INT, False, blank="0"),
        Column("quota_worker", "核定工勤编制", INT, False, blank="0"),
        Column("approved_chief", "核定正职领导职数", INT, False, blank="0"),
        Column("approved_deputy", "核定副职领导职数", INT, False, blank="0"),
    ),
)

STAFF = Sheet(
    name="人员",
    table="staff",
    title="in-establishment staff",
    description="在编在职人员实名信息：每人每单位一行。",
    columns=(
        Column("id_number", "公民身份号码", ID, True, note="18位，请设为文本格式"),
        Column("name", "姓名", TEXT, True),
        Column("sex", "性别", CODE, False, SEXES),
        Column("birth_date", "出生日期", DATE, False),
        Column("org_code", "所在机构代码", USCC, True),
        Column("est_kind", "编制类型", CODE, True, tuple(EST_KINDS)),
        Column("staff_class", "身份类别", CODE, True, STAFF_CLASSES),
        Column("post", "职务", TEXT, False),
        Column("leader_level", "领导职务层次", CODE, False, (*LEADER_LEVELS, NO_LEADER), blank=NO_LEADER),
        Column("entry_date", "进入本单位时间", DATE, False),
    ),
)

OFFSTAFF = Sheet(
    name="编外人员",
    table="offstaff",
    title="off-establishment staff",
    description="编外用工人员：劳务派遣、合同聘用、公益性岗位、临时聘用。",
    columns=(
        Column("id_number", "公民身份号码", ID, True),
        Column("name", "姓名", TEXT, False),
        Column("org_code", "所在机构代码", USCC, True),
        Column("employment_form", "用工形式", CODE, True, EMPLOYMENT_FORMS),
        Column("funding_source", "经费来源", CODE, False, FUNDING_SOURCES),
        Column("start_date", "起始日期", DATE, False),
    ),
)

PAYROLL = Sheet(
    name="财政发放",
    table="payroll",
    title="finance payroll",
    description="财政部门工资发放记录。",
    columns=(
        Column("id_number", "公民身份号码", ID, True),
        Column("name", "姓名", TEXT, False),
        Column("org_code", "发放单位代码", USCC, True),
        Column("account", "工资账号", TEXT, False),
        Column("pay_month", "发放月份", MONTH, True, note="YYYY-MM"),
        Column("amount", "应发金额", MONEY, False),
    ),
)

POLICE = Sheet(
    name="公安核查",
    table="police",
    title="police returns",
    description="公安部门身份核查结果。",
    columns=(
        Column("id_number", "公民身份号码", ID, True),
        Column("name", "姓名", TEXT, False),
        Column("police_result", "核查结果", CODE, True, POLICE_RESULTS),
    ),
)

HR = Sheet(
    name="人社信息",
    table="hr",
    title="HR records",
    description="人社部门在职人员信息。",
    columns=(
        Column("id_number", "公民身份号码", ID, True),
        Column("name", "姓名", TEXT, False),
        Column("org_code", "单位代码", USCC, True),
        Column("hr_status", "人员身份", TEXT, False),
    ),
)

ORGDEPT = Sheet(
    name="组织部门",
    table="orgdept",
    title="organisation department",
    description="组织部门领导职务任职记录。",
    columns=(
        Column("id_number", "公民身份号码", ID, True),
        Column("name", "姓名", TEXT, False),
        Column("org_code", "单位代码", USCC, True),
        Column("leader_level", "领导职务层次", CODE, True, tuple(LEADER_LEVELS)),
    ),
)

STATS2013 = Sheet(
    name="2013统计",
    table="stats2013",
    title="2013 annual statistics",
    description="2013年度机构编制统计数据。",
    columns=(
        Column("org_code", "统一社会信用代码", USCC, True),
        Column("est_kind", "编制类型", CODE, True, tuple(EST_KINDS)),
        Column("quota", "核定数", INT, True),
        Column("actual", "实有数", INT, False),
    ),
)

ONSITE = Sheet(
    name="实地核查",
    table="onsite_results",
    title="on-site inspection results",
    description="督查验收实地核查结果：检查组填写后导入。",
    columns=(
        Column("plan_id", "抽查计划编号", TEXT, True),
        Column("team_region", "检查组", TEXT, False),
        Column("org_code", "机构代码", USCC, True),
        Column("org_name", "机构名称", TEXT, False),
        Column("id_number", "公民身份号码", TEXT, True, note="可为脱敏号码，按抽样序号匹配"),
        Column("sample_no", "抽样序号", INT, True),
        Column("name", "姓名", TEXT, False),
        Column("onsite_result", "核查结果", CODE, False, ONSITE_RESULTS),
        Column("remark", "备注", TEXT, False),
        Column("inspector", "核查人", TEXT, False),
        Column("checked_on", "核查日期", DATE, False),
    ),
)

#: Sheets in template / intake order.
SHEETS: tuple[Sheet, ...] = (ORGS, STAFF, OFFSTAFF, PAYROLL, POLICE, HR, ORGDEPT, STATS2013, ONSITE)
BY_NAME = {s.name: s for s in SHEETS}
BY_TABLE = {s.table: s for s in SHEETS}
#: Joint-review departments -> the sheet their return is loaded as.
DEPARTMENTS = {"police": POLICE, "finance": PAYROLL, "hr": HR, "org": ORGDEPT}
DEPARTMENT_ZH = {"police": "公安", "finance": "财政", "hr": "人社", "org": "组织部门"}

#: Metadata columns added to every loaded table.
META_COLUMNS = (("_file", "VARCHAR"), ("_sheet", "VARCHAR"), ("_row", "BIGINT"), ("_load_id", "BIGINT"))

# Chinese names for the export columns of findings (DESIGN §5 order)
FINDING_COLUMNS = ("rule_id", "severity", "region_code", "org_code", "id_number", "item", "title", "detail")
FINDING_HEADERS = {
    "rule_id": "规则编号", "severity": "严重程度", "region_code": "行政区划代码", "org_code": "机构代码",
    "id_number": "公民身份号码", "item": "事项", "title": "问题名称", "detail": "问题说明",
}
RECTIFY_COLUMNS = {"measure": "整改措施", "owner": "责任人", "deadline": "完成时限", "status": "整改状态"}

# Sampling, cross-inspection and acceptance (督查验收 / 互检互查, DESIGN §6; workbench/sampling.py)
ONSITE_DEVIATIONS = ("不在岗", "查无此人")  # the ONSITE_RESULTS that count as a deviation
SAMPLE_UNIVERSES = {"county": "县级地区", "provincial": "省直单位"}
SAMPLE_PERSON_STRATA = {"critical": "严重问题人员（全部核查）", "random": "属性抽样"}
ACCEPTANCE_VERDICTS = {"pass": "通过", "fail": "不通过", "incomplete": "未完成"}
PROVINCE_TEAM = "省级检查组"
TEAM_SUFFIX = "检查组"
ALL_UNITS = "合计"
SAMPLE_PLAN_BOOK, SAMPLE_PLAN_SHEETS = "抽查方案", ("抽查单位", "分层情况", "互检轮换", "人员样本量")
ONSITE_BOOK = "实地核查表"
#: canonical column -> Chinese header, for every table the sampling module shows or exports.
SAMPLE_HEADERS = {
    "plan_id": "抽查计划编号", "universe": "抽样总体", "stratum": "分层代码", "stratum_name": "分层",
    "unit_code": "抽样单位代码", "unit_name": "抽样单位", "staff": "在编人数", "risk_score": "风险分值",
    "n_critical_findings": "严重问题数", "weight": "风险权重", "forced": "强制纳入", "rank": "层内排序",
    "n_stratum": "层内单位数", "take": "层内抽取数", "picked": "是否抽中", "reason": "抽中原因",
    "team_region": "检查组代码", "team_name": "检查组", "inspected_region": "被检查地区代码",
    "inspected_name": "被检查地区", "population": "总体人数", "n_critical": "严重问题人员",
    "n_rest": "其余人员", "n_random": "属性抽样人数", "n_sample": "核查人数", "method": "样本量方法",
    "ratio": "抽取比例", "picked_share": "实际比例",
    "checked": "已核查人数", "deviations": "偏差人数", "rate": "偏差率", "cp_upper": "Clopper–Pearson上限",
    "upper": "判定用置信上限", "tolerable": "可容忍偏差率", "verdict": "结论",
    "critical_checked": "严重问题人员已核查", "critical_deviations": "严重问题人员偏差",
    "projected_absent": "推算不在岗人数", "projected_low": "推算下限", "projected_high": "推算上限",
    "open_critical": "未销号严重问题", "expected": "预期偏差率", "confidence": "置信水平",
    "n_forced": "强制纳入数",
}


def sheet_for_table(table: str) -> Sheet:
    return BY_TABLE[table]


def quota_column(est_kind: str) -> str:
    return EST_KINDS[est_kind]
