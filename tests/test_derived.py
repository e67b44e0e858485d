"""Derived ID columns (``_idk`` key, ``_idb`` birth date): filled by intake, completed for rows written otherwise."""

from __future__ import annotations

import duckdb
import pandas as pd

from workbench import contract, derived, ids, rules
from workbench import workspace as wsp


def test_intake_fills_every_derived_column_as_the_sql_would(sample_ws):
    """After intake every row has its key (a hash key for malformed IDs) and the roster its birth date, equal
    to what ``wb_id_key`` / ``wb_id_born`` give on the loaded text; the check finds nothing to complete."""
    con = wsp.connect(sample_ws)
    try:
        for sheet in derived.sheets():
            t = sheet.table
            n, wrong = con.execute(f"SELECT count(*), count(*) FILTER (WHERE _idk IS DISTINCT FROM wb_id_key(id_number)) "
                                   f"FROM {t}").fetchall()[0]
            assert n > 0 and wrong == 0, t
        rows, born, wrong = con.execute("SELECT count(*), count(_idb), count(*) FILTER "
                                        "(WHERE _idb IS DISTINCT FROM wb_id_born(_idk, id_number)) FROM staff").fetchall()[0]
        assert wrong == 0 and 0 < born < rows  # the sample holds invalid IDs
        assert con.execute("SELECT count(*) FROM staff WHERE _idk < 0").fetchall()[0][0] > 0  # malformed: hash keys
        assert derived.complete(con) == 0
    finally:
        con.close()


def test_complete_normalises_rows_written_by_hand(tmp_path):
    """Rows inserted without intake (full-width digits, lower-case x, spaces, blank codes) are brought to the
    state intake leaves them in; rows already complete are left alone."""
    con = wsp.connect(tmp_path / "ws.duckdb")
    s17 = "62010219800101001"
    good = s17 + ids.id_check_char(s17)
    x17 = next(f"6201021980010100{i}" for i in range(10) if ids.id_check_char(f"6201021980010100{i}") == "X")
    rows = pd.DataFrame({
        "id_number": [" " + good.translate(str.maketrans("0123456789", "０１２３４５６７８９")), x17 + "x", "  ", "12345"],
        "name": ["甲", "乙", "丙", "丁"], "org_code": [" 12620102ab ", None, None, None],
        "leader_level": [None, " 正职 ", None, None], "_row": [1, 2, 3, 4]})
    con.register("r", rows)
    con.execute("INSERT INTO staff BY NAME SELECT * FROM r")
    assert derived.complete(con) == 4
    got = con.execute("SELECT id_number, org_code, leader_level, _idk, _idb FROM staff ORDER BY _row").fetchall()
    assert got[0] == (good, "12620102AB", contract.NO_LEADER, int(s17) * 11 + int(good[-1]), pd.Timestamp("1980-01-01").date())
    assert got[1][:3] == (x17 + "X", None, "正职") and got[1][3] == int(x17) * 11 + 10
    assert got[2][0] is None and got[2][3] is None  # blank ID: no key (checked again next time, harmlessly)
    assert got[3][3] < 0 and got[3][4] is None  # malformed: a hash key, no birth date
    for table in ("offstaff", "payroll", "hr"):  # every table with an ID, not only the roster
        con.execute(f"INSERT INTO {table} (id_number, name) VALUES (?, '戊')", [" " + good.lower()])
    assert derived.complete(con) == 3 + 1  # (+ the row without an ID, again)
    for table in ("offstaff", "payroll", "hr"):
        assert con.execute(f"SELECT id_number, _idk FROM {table}").fetchall() == [(good, got[0][3])], table
    before = con.execute("SELECT * FROM staff ORDER BY _row").fetchall()
    assert derived.complete(con) == 1  # only the row without an ID comes back
    assert con.execute("SELECT * FROM staff ORDER BY _row").fetchall() == before
    con.close()


def test_workspace_from_before_the_derived_columns_is_upgraded(tmp_path):
    """A workspace whose tables lack the derived columns gets them on connect; the check fills them in and
    finds the same as on a fresh workspace."""
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    for sheet in contract.SHEETS:  # the schema as it was: canonical + metadata columns only
        cols = [f'"{c.name}" {c.sql_type}' for c in sheet.columns] + [f'"{n}" {t}' for n, t in contract.META_COLUMNS]
        old.execute(f'CREATE TABLE "{sheet.table}" ({", ".join(cols)})')
    s17 = "62010219800101001"
    pid = s17 + ids.id_check_char(s17)
    old.execute("INSERT INTO staff (id_number, name, org_code, est_kind, staff_class) VALUES (?, '甲', 'NOPE', '行政编制', '公务员')",
                [pid])
    old.execute("INSERT INTO staff (id_number, name, org_code, est_kind, staff_class) VALUES (?, '乙', 'NOPE', '行政编制', '公务员')",
                [pid])
    old.close()
    con = wsp.connect(path)
    names = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'staff'").fetchall()}
    assert {"_idk", "_idb"} <= names
    rules.run_check(con, ["PER_DUPLICATE"])
    found = rules.latest_findings(con)
    assert found[found.rule_id == "PER_DUPLICATE"]["id_number"].tolist() == [pid]
    assert con.execute("SELECT count(*) FROM staff WHERE _idk IS NULL").fetchall()[0][0] == 0
    con.close()
