"""The rule type and the registry (DESIGN §5): one :class:`Rule` per rule, keyed by rule id."""

from __future__ import annotations

from dataclasses import dataclass

from .. import contract
from .prepare import ID_TEXT

#: Bumped whenever any rule definition changes; stored with every run (rule_status.version).
CATALOGUE_VERSION = "2014.1"


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue.

    ``sources``: workspace tables that must hold rows for the rule to run; ``any_of``: at least one of these
    must hold rows. ``uses``: the per-run base tables (see :mod:`.prepare`) its query reads. ``query``: a
    DuckDB SELECT returning uk, k, item, detail — the unit key, the person's ID key (NULL for a unit finding),
    the item and the Chinese explanation (``:as_of`` and ``:pay_month`` are substituted). The runner stages
    every rule's rows and turns them into the eight export columns of §5 at once (:func:`decode_sql`).
    """

    id: str
    title_zh: str
    title_en: str
    severity: str
    clear: str
    key: str
    sources: tuple[str, ...]
    uses: tuple[str, ...]
    query: str
    any_of: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # read when loaded; the rule still runs without them (noted in rule_status)
    fires_when: str = ""
    version: str = CATALOGUE_VERSION

    def __post_init__(self) -> None:
        assert self.severity in contract.SEVERITIES, self.severity
        assert self.clear in contract.CLEARS, self.clear

    @property
    def sql(self) -> str:
        """The rule's rows for the run's staging table ``wb_found``: rule_id, uk, k, item, detail."""
        return (f"SELECT '{self.id}' AS rule_id, uk, k, item::VARCHAR AS item, detail::VARCHAR AS detail"
                f" FROM ({self.query}) AS q")


REGISTRY: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    """Add a rule to :data:`REGISTRY` (ids are unique)."""
    if rule.id in REGISTRY:
        raise ValueError(f"duplicate rule id {rule.id}")
    REGISTRY[rule.id] = rule
    return rule


def decode_sql(run_id: int) -> str:
    """INSERT of the staged rows of a run (``wb_found``) into ``findings``: severity and title from the registry,
    region and unit code by unit key (``wb_units``), the ID text decoded from its key (``wb_bad_ids`` for a
    malformed ID)."""
    meta = ", ".join(f"('{r.id}', '{r.severity}', '{r.title_zh}')" for r in REGISTRY.values())
    return (f"INSERT INTO findings SELECT {int(run_id)}, f.rule_id, m.severity, u.region_code, u.org,"
            f" {ID_TEXT.format('f', 'b')}, f.item, m.title, f.detail"
            f" FROM wb_found f JOIN (VALUES {meta}) AS m(rule_id, severity, title) ON m.rule_id = f.rule_id"
            " LEFT JOIN wb_units u ON u.uk = f.uk LEFT JOIN wb_bad_ids b ON f.k < 0 AND b.k = f.k")


def select(rule_ids=None) -> list[Rule]:
    """The rules to run, in catalogue order; unknown ids raise a Chinese ValueError."""
    if not rule_ids:
        return list(REGISTRY.values())
    wanted = [r.strip().upper() for r in rule_ids if r and r.strip()]
    unknown = [r for r in wanted if r not in REGISTRY]
    if unknown:
        raise ValueError(f"未知的规则编号：{'、'.join(unknown)}（可用：{'、'.join(REGISTRY)}）")
    return [r for r in REGISTRY.values() if r.id in wanted]


def by_clear() -> dict[str, list[str]]:
    """clear name -> rule ids belonging to it (in catalogue order)."""
    out: dict[str, list[str]] = {c: [] for c in contract.CLEARS}
    for r in REGISTRY.values():
        out[r.clear].append(r.id)
    return out


def catalogue_frame():
    """The catalogue as a DataFrame (one row per rule)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"rule_id": r.id, "title_zh": r.title_zh, "title_en": r.title_en, "severity": r.severity,
             "clear": r.clear, "key": r.key, "sources": ", ".join(r.sources), "any_of": ", ".join(r.any_of),
             "optional": ", ".join(r.optional),
             "fires_when": r.fires_when, "version": r.version}
            for r in REGISTRY.values()
        ]
    )


def catalogue_markdown() -> str:
    """A Markdown table of the catalogue, generated from the registry (for README.md)."""
    head = "| rule_id | 名称 | title | severity | clear | key | sources (sheets) | fires when |\n|---|---|---|---|---|---|---|---|\n"
    rows = []
    zh = {s.table: s.name for s in contract.SHEETS}
    for r in REGISTRY.values():
        srcs = ", ".join(zh[t] for t in r.sources)
        if r.any_of:
            srcs += ", one of " + "/".join(zh[t] for t in r.any_of)
        if r.optional:
            srcs += ", " + ", ".join(f"{zh[t]} (if loaded)" for t in r.optional)
        rows.append(f"| {r.id} | {r.title_zh} | {r.title_en} | {r.severity} | {r.clear} | {r.key} | {srcs} | {r.fires_when} |")
    return head + "\n".join(rows) + "\n"
