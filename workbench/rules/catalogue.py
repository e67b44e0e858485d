"""The rule catalogue of DESIGN §5: one :class:`Rule` per rule, set-based DuckDB SQL over the base tables.

Every query returns uk, k, item, detail — one row per key of the rule: the unit key and the person's ID key
(NULL for a unit finding); the runner turns the keys back into the region, unit code and ID text. Queries
read only the per-run base tables of :mod:`.prepare` (integer keys, scope already applied): persons are matched
and grouped on ``k``, units on ``uk``, kinds and leader levels as positions in the contract's code lists.

``x NOT IN (SELECT k FROM …)`` is used where an anti join would do: the base tables hold no NULL key (wb_staff
filters them, the others leave them out), so it means the same, and DuckDB then builds its hash table on the
subquery's key column alone rather than on the roster with its payload.
"""

from __future__ import annotations

from .. import contract as c
from ..ids import PROVINCE_CODES
from .prepare import ID_TEXT
from .registry import Rule, register

ORG, EST, LDR, PER = c.CLEAR_ORG, c.CLEAR_EST, c.CLEAR_LEADER, c.CLEAR_PERSON
_IN_SCOPE_ORG = "FROM wb_org o WHERE NOT o.out_of_scope"
_LEADER_CASE = " ".join(f"WHEN {i} THEN o.{col}" for i, col in enumerate(c.LEADER_LEVELS.values(), 1))
_MISMATCH = ", ".join(f"'{r}'" for r in c.POLICE_MISMATCH)
_DECEASED = ", ".join(f"'{r}'" for r in c.POLICE_DECEASED)
_PROVINCES = ", ".join(f"'{p}'" for p in PROVINCE_CODES)


def _months(expr: str) -> str:
    """SQL text for a number of months as 60周岁 / 60周岁3个月 (retirement.describe_months)."""
    return (f"(({expr}) // 12) || '周岁' || CASE WHEN ({expr}) % 12 > 0 THEN (({expr}) % 12) || '个月' ELSE '' END")


# ------------------------------------------------------------------------------------------------ 机构清
register(Rule(
    id="ORG_UNAPPROVED", title_zh="擅自设立机构", title_en="Institution without approval", severity="high",
    clear=ORG, key="org", sources=("orgs",), uses=("wb_org",), fires_when="批准文号 blank",
    query=f"""SELECT o.ok AS uk, NULL AS k, NULL AS item, '机构未填写批准文号，视为未经批准设立' AS detail
              {_IN_SCOPE_ORG} AND o.approval_doc IS NULL""",
))
register(Rule(
    id="ORG_EXCESS_INTERNAL", title_zh="超设内设机构", title_en="Internal units above approval", severity="medium",
    clear=ORG, key="org", sources=("orgs",), uses=("wb_org",), fires_when="actual_units > approved_units",
    query=f"""SELECT o.ok AS uk, NULL AS k, NULL AS item,
                     format('核定内设机构{{}}个，实有{{}}个，超设{{}}个', o.approved_units, o.actual_units,
                            o.actual_units - o.approved_units) AS detail
              {_IN_SCOPE_ORG} AND o.actual_units > o.approved_units""",
))
register(Rule(
    id="ORG_OUT_OF_SCOPE", title_zh="生产经营类事业单位不纳入核查", title_en="Commercial public institution (out of scope)",
    severity="info", clear=ORG, key="org", sources=("orgs",), uses=("wb_org",), fires_when="psi_class = 生产经营类",
    query="""SELECT o.ok AS uk, NULL AS k, NULL AS item,
                    '事业单位类别为生产经营类，本单位及其人员不纳入本次核查' AS detail
             FROM wb_org o WHERE o.out_of_scope""",
))
register(Rule(
    id="ORG_CODE_INVALID", title_zh="统一社会信用代码无效", title_en="Invalid unified social credit code",
    severity="medium", clear=ORG, key="org", sources=("orgs",), uses=("wb_org",), fires_when="机构 key fails GB 32100",
    query=f"""SELECT o.ok AS uk, NULL AS k, NULL AS item,
                     CASE WHEN length(o.org) <> 18 THEN format('统一社会信用代码长度为{{}}位，应为18位', length(o.org))
                          ELSE '统一社会信用代码不符合GB 32100编码或校验规则' END AS detail
              {_IN_SCOPE_ORG} AND NOT wb_uscc_valid(o.org)""",
))
register(Rule(
    id="ORG_UNKNOWN", title_zh="人员所在机构未登记", title_en="Unit code not registered in 机构", severity="high",
    clear=ORG, key="org", sources=("orgs",), any_of=("staff", "offstaff", "payroll"),
    uses=("wb_org", "wb_person", "wb_off", "wb_pay"),
    fires_when="a code in 人员, 编外人员 or 财政发放 (latest month) not in 机构",
    query="""WITH codes AS (
                 SELECT uk, '人员表' AS src, k FROM wb_person WHERE NOT known AND uk IS NOT NULL
                 UNION ALL SELECT uk, '编外人员表', k FROM wb_off WHERE NOT known AND uk IS NOT NULL
                 UNION ALL SELECT uk, '财政发放表', k FROM wb_pay WHERE NOT known AND uk IS NOT NULL),
             n AS (SELECT uk, src, count(DISTINCT k) AS k FROM codes GROUP BY uk, src)
             SELECT uk, NULL AS k, NULL AS item,
                    '机构代码未在机构表中登记，但' || string_agg(src || k || '人', '、' ORDER BY src DESC) || '使用该代码' AS detail
             FROM n GROUP BY uk""",
))
register(Rule(
    id="ORG_STAT_MISMATCH", title_zh="核定编制与2013年统计不一致", title_en="Quota differs from 2013 statistics",
    severity="medium", clear=ORG, key="org, item=kind", sources=("orgs", "stats2013"), uses=("wb_quota", "wb_stats"),
    fires_when="2013统计 核定数 ≠ quota(o,k) for a unit in both",
    query="""WITH m AS (SELECT q.ok, q.kind FROM wb_quota q JOIN wb_stats s ON s.ok = q.ok AND s.kind = q.kind
                        WHERE s.quota IS DISTINCT FROM q.quota GROUP BY q.ok, q.kind)
             SELECT q.ok AS uk, NULL AS k, wb_kind(q.kind) AS item,
                    format('机构表核定{}{}名，2013年统计核定数{}名', wb_kind(q.kind), any_value(q.quota),
                           string_agg(DISTINCT CAST(s.quota AS VARCHAR), '、')) AS detail
             FROM wb_quota q SEMI JOIN m ON m.ok = q.ok AND m.kind = q.kind
             JOIN wb_stats s ON s.ok = q.ok AND s.kind = q.kind
             GROUP BY q.ok, q.kind""",
))

# ------------------------------------------------------------------------------------------------ 编制清
register(Rule(
    id="EST_OVER", title_zh="超编", title_en="Staff above establishment quota", severity="high", clear=EST,
    key="org, item=kind", sources=("orgs", "staff"), uses=("wb_quota", "wb_staff", "wb_multi"),
    fires_when="quota(o,k) > 0 and actual(o,k) > quota(o,k)",
    # actual(o,kind) = count(DISTINCT id), computed as rows minus the repeats of ids on several rows (wb_multi),
    # so the expensive DISTINCT only runs on that small subset (registered units only)
    query="""WITH n AS (SELECT uk, kind, count(*) AS n FROM wb_staff WHERE known GROUP BY uk, kind),
                  x AS (SELECT p.uk, p.kind, count(*) - count(DISTINCT p.k) AS extra
                        FROM wb_staff p SEMI JOIN wb_multi m ON m.k = p.k WHERE p.known GROUP BY p.uk, p.kind),
                  a AS (SELECT n.uk, n.kind, n.n - COALESCE(x.extra, 0) AS actual
                        FROM n LEFT JOIN x ON x.uk = n.uk AND x.kind = n.kind)
             SELECT q.ok AS uk, NULL AS k, wb_kind(q.kind) AS item,
                    format('核定{}{}名，实有{}名，超编{}名', wb_kind(q.kind), q.quota, a.actual, a.actual - q.quota) AS detail
             FROM wb_quota q JOIN a ON a.uk = q.ok AND a.kind = q.kind
             WHERE q.quota > 0 AND a.actual > q.quota""",
))
register(Rule(
    id="EST_MIXED", title_zh="混编混岗", title_en="Staff on a kind with no quota", severity="medium", clear=EST,
    key="org, id", sources=("orgs", "staff"), uses=("wb_quota", "wb_staff"),
    fires_when="a 人员 row of kind k where quota(o,k) = 0",
    query="""SELECT p.uk, p.k, NULL AS item,
                    '单位未核定' || string_agg(DISTINCT wb_kind(p.kind), '、') || '，该人员按'
                    || string_agg(DISTINCT wb_kind(p.kind), '、') || '在编' AS detail
             FROM wb_staff p JOIN wb_quota q ON q.ok = p.uk AND q.kind = p.kind
             WHERE q.quota = 0 GROUP BY p.uk, p.k""",
))
# ------------------------------------------------------------------------------------------------ 领导职数清
register(Rule(
    id="LDR_OVER", title_zh="超职数配备领导", title_en="Leaders above approved posts", severity="high", clear=LDR,
    key="org, item=level", sources=("orgs", "staff"), uses=("wb_org", "wb_staff"),
    fires_when="leaders(o,v) > approved posts of level v",
    query=f"""WITH l AS (SELECT uk, lv, count(DISTINCT k) AS n FROM wb_staff WHERE known AND lv IS NOT NULL GROUP BY uk, lv),
                   x AS (SELECT o.ok, l.lv, l.n, CASE l.lv {_LEADER_CASE} END AS approved
                         FROM l JOIN wb_org o ON o.ok = l.uk AND NOT o.out_of_scope)
              SELECT ok AS uk, NULL AS k, wb_level(lv) AS item,
                     format('核定{{}}领导职数{{}}名，实配{{}}名，超配{{}}名', wb_level(lv), approved, n, n - approved) AS detail
              FROM x WHERE n > approved""",
))
register(Rule(
    id="LDR_UNCONFIRMED", title_zh="领导职务与组织部门记录不符", title_en="Leader post not confirmed by organisation dept",
    severity="medium", clear=LDR, key="org, id", sources=("staff", "orgdept"), uses=("wb_staff", "wb_orgdept"),
    fires_when="人员 leader row with no 组织部门 row of same id, unit and level",
    query="""SELECT p.uk, p.k, NULL AS item,
                    '人员表登记为' || string_agg(DISTINCT wb_level(p.lv), '、') || '领导，组织部门无该单位相应任职记录' AS detail
             FROM wb_staff p ANTI JOIN wb_orgdept d ON d.k = p.k AND d.uk = p.uk AND d.lv = p.lv
             WHERE p.lv IS NOT NULL GROUP BY p.uk, p.k""",
))

# ------------------------------------------------------------------------------------------------ 实有人员清
register(Rule(
    id="PER_ID_INVALID", title_zh="公民身份号码无效", title_en="Invalid citizen ID number", severity="high", clear=PER,
    key="org, id", sources=("staff",), uses=("wb_staff", "wb_bad_ids"), fires_when="人员 id not valid (§4)",
    query=f"""WITH x AS (SELECT p.uk, p.k, {ID_TEXT.format('p', 'b')} AS id
                         FROM wb_staff p LEFT JOIN wb_bad_ids b ON p.k < 0 AND b.k = p.k WHERE NOT p.valid
                         GROUP BY ALL)
              SELECT uk, k, NULL AS item,
                     CASE WHEN regexp_full_match(id, '[0-9]{{15}}') THEN '15位旧号码，已停止使用'
                          WHEN length(id) <> 18 THEN format('号码长度为{{}}位，应为18位', length(id))
                          WHEN NOT regexp_full_match(id, '[0-9]{{17}}[0-9X]') THEN '号码含有非法字符'
                          WHEN NOT wb_id_check_ok(id) THEN '校验码错误'
                          WHEN substr(id, 1, 2) NOT IN ({_PROVINCES}) THEN '前两位不是有效的省级行政区划代码'
                          WHEN wb_id_birth(id) IS NULL THEN '号码中的出生日期不是有效日期'
                          WHEN wb_id_birth(id) < DATE '1900-01-01' THEN '号码中的出生日期早于1900年'
                          ELSE '号码中的出生日期晚于核查基准日' END AS detail
              FROM x""",
))
register(Rule(
    id="PER_ID_CONFLICT", title_zh="性别或出生日期与身份证号码不符", title_en="Sex or birth date differs from the ID",
    severity="low", clear=PER, key="org, id", sources=("staff",), uses=("wb_staff",),
    fires_when="valid id; 性别 or 出生日期 given and different from the id's",
    query="""WITH x AS (
                 SELECT uk, k,
                        concat_ws('；',
                            CASE WHEN bad_sex IS NOT NULL
                                 THEN '登记性别' || bad_sex || '，身份证号码显示为' || wb_sex(male) END,
                            CASE WHEN birth_date IS NOT NULL AND birth_date <> id_birth
                                 THEN '登记出生日期' || strftime(birth_date, '%Y-%m-%d') || '，身份证号码显示为'
                                      || strftime(id_birth, '%Y-%m-%d') END) AS d
                 FROM wb_staff
                 WHERE valid AND (bad_sex IS NOT NULL OR (birth_date IS NOT NULL AND birth_date <> id_birth)))
             SELECT uk, k, NULL AS item, string_agg(DISTINCT d, '；') AS detail FROM x GROUP BY uk, k""",
))
register(Rule(
    id="PER_DUPLICATE", title_zh="一人多处在编", title_en="Same person on more than one roster row", severity="critical",
    clear=PER, key="org, id", sources=("staff",), uses=("wb_staff", "wb_multi"),
    fires_when="the id is on more than one 人员 row",
    query="""SELECT p.uk, p.k, NULL AS item,
                    format('该身份证号码在人员表中有{}条在编记录，涉及{}个单位', any_value(d.n), any_value(d.units)) AS detail
             FROM wb_staff p JOIN wb_multi d ON d.k = p.k GROUP BY p.uk, p.k""",
))
register(Rule(
    id="PER_POLICE_MISMATCH", title_zh="公安核查姓名不符或号码不存在", title_en="Police: name differs or ID unknown",
    severity="high", clear=PER, key="org, id", sources=("staff", "police"), uses=("wb_staff", "wb_police"),
    fires_when="police result 姓名不一致 or 号码不存在",
    query=f"""SELECT p.uk, p.k, NULL AS item, '公安核查结果：' || string_agg(DISTINCT g.result, '、') AS detail
              FROM wb_staff p JOIN wb_police g ON g.k = p.k WHERE g.result IN ({_MISMATCH}) GROUP BY p.uk, p.k""",
))
register(Rule(
    id="PER_DECEASED", title_zh="死亡或注销人员仍在编", title_en="Deceased or cancelled ID still on the roster",
    severity="critical", clear=PER, key="org, id", sources=("staff", "police"), uses=("wb_staff", "wb_police"),
    fires_when="police result 已死亡 or 已注销",
    query=f"""SELECT p.uk, p.k, NULL AS item, '公安核查结果：' || string_agg(DISTINCT g.result, '、') || '，仍在编在职' AS detail
              FROM wb_staff p JOIN wb_police g ON g.k = p.k WHERE g.result IN ({_DECEASED}) GROUP BY p.uk, p.k""",
))
register(Rule(
    id="PER_OVERAGE", title_zh="超过法定退休年龄仍在职", title_en="Above statutory retirement age", severity="high",
    clear=PER, key="org, id", sources=("staff",), uses=("wb_staff", "wb_retire"),
    fires_when="valid id and age ≥ retirement age (workbench/retirement.py)",
    query=f"""WITH x AS (
                  SELECT p.uk, p.k, p.id_birth, r.retire_months, wb_age_months(p.id_birth, :as_of) AS m
                  FROM wb_staff p JOIN wb_retire r
                    ON r.birth_month = date_trunc('month', p.id_birth)
                   AND r.grp = CASE WHEN p.male THEN 'male' WHEN p.worker THEN 'female_worker' ELSE 'female_cadre' END
                  WHERE p.valid AND p.age >= 50)
              SELECT uk, k, NULL AS item,
                     '出生于' || strftime(any_value(id_birth), '%Y-%m-%d') || '，截至' || strftime(:as_of, '%Y-%m-%d')
                     || '已满' || {_months('min(m)')} || '，法定退休年龄为' || {_months('max(retire_months)')} AS detail
              FROM x WHERE m >= retire_months GROUP BY uk, k""",
))
register(Rule(
    id="PER_UNDERAGE", title_zh="未满18周岁", title_en="Under 18", severity="medium", clear=PER, key="org, id",
    sources=("staff",), uses=("wb_staff",), fires_when="valid id and age < 18",
    query="""SELECT uk, k, NULL AS item,
                    format('出生于{}，截至{}未满18周岁（{}周岁）', strftime(any_value(id_birth), '%Y-%m-%d'),
                           strftime(:as_of, '%Y-%m-%d'), any_value(age)) AS detail
             FROM wb_staff WHERE valid AND age < 18 GROUP BY uk, k""",
))
register(Rule(
    id="PAY_GHOST", title_zh="财政发放但不在实名库（吃空饷疑点）", title_en="Paid but on no roster (ghost)",
    severity="critical", clear=PER, key="org (paying), id", sources=("payroll", "staff"), optional=("offstaff",),
    uses=("wb_pay", "wb_person", "wb_off"),
    fires_when="payroll id in neither 人员 nor 编外人员",
    query="""SELECT w.uk, w.k, NULL AS item, :pay_month || '财政发放工资，但人员表和编外人员表均无此人' AS detail
             FROM wb_pay w WHERE w.k NOT IN (SELECT k FROM wb_person WHERE k IS NOT NULL UNION ALL SELECT k FROM wb_off)
             GROUP BY w.uk, w.k""",
))
register(Rule(
    id="PAY_UNPAID", title_zh="在编人员无财政发放记录", title_en="Fully-funded staff not on the payroll",
    severity="medium", clear=PER, key="org, id", sources=("orgs", "staff", "payroll"), uses=("wb_staff", "wb_pay"),
    fires_when="人员 row in a 财政全额拨款 unit, id absent from payroll",
    query=f"""SELECT p.uk, p.k, NULL AS item, '所在单位为{c.FULL_FUNDING}单位，' || :pay_month || '财政发放无此人记录' AS detail
              FROM wb_staff p WHERE p.known AND p.full_funded AND p.k NOT IN (SELECT k FROM wb_pay)
              GROUP BY p.uk, p.k""",
))
register(Rule(
    id="PAY_ORG_MISMATCH", title_zh="工资发放单位与在编单位不一致", title_en="Paid by a unit other than the roster unit",
    severity="medium", clear=PER, key="org, id", sources=("staff", "payroll"), uses=("wb_staff", "wb_pay", "wb_units"),
    fires_when="id in payroll, but never paid by the unit of this 人员 row",
    query="""WITH x AS MATERIALIZED (SELECT p.uk, p.k FROM wb_staff p ANTI JOIN wb_pay x ON x.k = p.k AND x.uk = p.uk)
             SELECT p.uk, p.k, NULL AS item,
                    '财政发放单位为' || string_agg(DISTINCT u.org, '、') || '，与在编单位不一致' AS detail
             FROM x AS p JOIN wb_pay w ON w.k = p.k LEFT JOIN wb_units u ON u.uk = w.uk GROUP BY p.uk, p.k""",
))
register(Rule(
    id="PAY_SHARED_ACCOUNT", title_zh="多人共用工资账户", title_en="Salary account shared by several persons",
    severity="high", clear=PER, key="org (paying), id", sources=("payroll",), uses=("wb_pay",),
    fires_when="the row's 工资账号 is used by ≥ 2 distinct ids",
    # accounts compared by their hash key (acc); the account text of the rows found read back from 财政发放 by rowid
    query="""WITH s AS (SELECT acc FROM wb_pay WHERE acc IS NOT NULL GROUP BY acc HAVING count(*) > 1),
                  r AS MATERIALIZED (SELECT w.uk, w.k, w.acc, w.r FROM wb_pay w SEMI JOIN s ON s.acc = w.acc),
                  a AS (SELECT acc, count(DISTINCT k) AS n FROM r GROUP BY acc HAVING count(DISTINCT k) >= 2),
                  f AS MATERIALIZED (SELECT w.uk, w.k, w.r, a.n FROM r AS w JOIN a ON a.acc = w.acc)
             SELECT f.uk, f.k, NULL AS item,
                    '工资账号' || min(wb_mask(p.account)) || '由' || max(f.n) || '个不同身份证号码共用' AS detail
             FROM f JOIN payroll p ON p.rowid = f.r GROUP BY f.uk, f.k""",
))
register(Rule(
    id="PAY_OVER_QUOTA", title_zh="财政供养人数超过核定编制", title_en="Paid persons above total quota",
    severity="high", clear=EST, key="org", sources=("orgs", "payroll"), uses=("wb_org", "wb_pay"),
    fires_when="distinct paid ids of the unit > sum of its quotas",
    query=f"""WITH paid AS (SELECT uk, count(DISTINCT k) AS n FROM wb_pay WHERE known GROUP BY uk),
                  t AS (SELECT o.ok, {' + '.join('o.' + col for col in c.EST_KINDS.values())} AS quota {_IN_SCOPE_ORG})
              SELECT t.ok AS uk, NULL AS k, NULL AS item,
                     format('核定编制合计{{}}名，{{}}财政发放{{}}人，超出{{}}人', t.quota, :pay_month, paid.n,
                            paid.n - t.quota) AS detail
              FROM t JOIN paid ON paid.uk = t.ok WHERE paid.n > t.quota""",
))
register(Rule(
    id="HR_MISSING", title_zh="人社无在职记录", title_en="No HR record", severity="low", clear=PER, key="org, id",
    sources=("staff", "hr"), uses=("wb_staff", "wb_hr"), fires_when="人员 id absent from 人社信息",
    query="""SELECT p.uk, p.k, NULL AS item, '人社部门无此人在职记录' AS detail
             FROM wb_staff p WHERE p.k NOT IN (SELECT k FROM wb_hr) GROUP BY p.uk, p.k""",
))
