"""GB/T 2260 region hierarchy of the sample province, read from ``data/regions.csv``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
REGIONS_CSV = DATA_DIR / "regions.csv"
PROVINCE, CITY, COUNTY = "province", "city", "county"
LEVEL_ZH = {PROVINCE: "省级", CITY: "市级", COUNTY: "县级"}


@cache
def regions() -> pd.DataFrame:
    """region_code, name, level, parent_code (codes as 6-char strings), plus city_code of each region."""
    df = pd.read_csv(REGIONS_CSV, dtype=str, keep_default_na=False)
    df["parent_code"] = df["parent_code"].replace("", None)
    city = df["region_code"].where(df["level"] != COUNTY, df["parent_code"])
    df["city_code"] = city.where(df["level"] != PROVINCE, None)
    return df


def province_code() -> str:
    return regions().query("level == @PROVINCE")["region_code"].iloc[0]


@cache
def _names() -> dict[str, str]:
    return dict(zip(regions()["region_code"], regions()["name"], strict=True))


def name_of(code: str) -> str:
    """The region's name (the code itself when unknown); a dict lookup, cheap inside Series.map."""
    return _names().get(code, code)


def level_of(code: str) -> str:
    return regions().set_index("region_code").loc[code, "level"]


def children(code: str) -> list[str]:
    r = regions()
    return r.loc[r["parent_code"] == code, "region_code"].tolist()


def descendants(code: str) -> list[str]:
    """The region itself and every region below it."""
    out, todo = [], [code]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(children(c))
    return out


def county_level() -> pd.DataFrame:
    """The county-level universe of DESIGN §6: counties plus cities without counties (e.g. 嘉峪关)."""
    r = regions()
    has_children = set(r["parent_code"].dropna())
    cities_without = r[(r["level"] == CITY) & ~r["region_code"].isin(has_children)]
    return pd.concat([r[r["level"] == COUNTY], cities_without], ignore_index=True)


def codes() -> set[str]:
    return set(regions()["region_code"])
