"""AppTest of app.py and the Home page on a temporary database with rows."""
from streamlit.testing.v1 import AppTest

from store import db, datasets
from tests.conftest import ROOT


def seed_rows():
    did = datasets.create("安规题库", "samples")
    db.cursor().execute(
        "INSERT INTO samples (dataset_id, instruction, output, status, origin) "
        "SELECT ?, 'q' || i, 'a', CASE WHEN i % 3 = 0 THEN 'pending' ELSE 'accepted' END, 'exam-qa' "
        "FROM range(12) t(i)", [did])
    datasets.create("电力法", "corpus")


def test_home_shows_the_counts(studio_env):
    seed_rows()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Datasets"] == "2"
    assert metrics["Samples"] == "12"
    table = at.dataframe[0].value
    row = table[table["dataset"] == "安规题库"].iloc[0]
    assert row["samples"] == 12 and row["status: accepted"] == 8 and row["status: pending"] == 4
    assert row["origin: exam-qa"] == 12
    assert any(str(studio_env / "studio.duckdb") in c.value for c in at.caption)


def test_empty_project_says_how_to_start(studio_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception
    assert any("No datasets yet" in i.value for i in at.info)
