"""The store on a real DuckDB file: migrations, plain rows, transactions, the lock error."""

import duckdb
import pytest

from store import db, migrate
from studio.core.errors import DatabaseLocked
from tests.conftest import held_database

EXPECTED_TABLES = {
    "schema_migrations", "datasets", "imports", "exam_questions", "documents", "passages", "samples",
    "templates", "generation_batches", "llm_requests", "bulk_actions", "snapshots", "snapshot_samples",
    "runs", "run_metrics", "prompt_sets", "prompts", "generations", "ratings", "votes", "judge_scores",
}


def tables(path):
    con = duckdb.connect(str(path))
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()


def test_blank_database_gets_every_table(studio_env):
    path = studio_env / "blank.duckdb"
    db.connect(path)
    db.close(path)
    assert EXPECTED_TABLES <= tables(path)


def test_migrating_twice_is_a_noop(studio_env):
    path = studio_env / "twice.duckdb"
    con = duckdb.connect(str(path))
    first = migrate.migrate(con)
    assert first and first[0] == "m001_initial"
    assert migrate.applied(con) == [v for v, _ in migrate.available()]
    assert migrate.migrate(con) == []
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(first)
    con.close()


def test_migration_numbers_are_unique_and_ordered():
    versions = [v for v, _ in migrate.available()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_rows_are_plain_dicts_and_values_are_bound(studio_env):
    from store import datasets

    tricky = "x'); DROP TABLE samples; --"
    did = datasets.create(tricky, "samples")
    found = datasets.get(tricky)
    assert isinstance(found, dict) and found["id"] == did and found["name"] == tricky
    assert db.scalar("SELECT count(*) FROM samples") == 0


def test_transaction_lands_whole_or_not_at_all(studio_env):
    from store import datasets

    with pytest.raises(RuntimeError):
        with db.transaction() as cur:
            datasets.create("half", "exam", cur=cur)
            raise RuntimeError("fault in the middle")
    assert datasets.find("half") is None
    with db.transaction() as cur:
        datasets.create("whole", "exam", cur=cur)
    assert datasets.find("whole")["kind"] == "exam"


def test_a_file_held_by_another_process_gives_the_clear_error(studio_env):
    path = studio_env / "held.duckdb"
    with held_database(path) as holder:
        with pytest.raises(DatabaseLocked) as err:
            db.connect(path)
        message = str(err.value)
        assert "in use by another process" in message and str(path.name) in message
        assert f"PID {holder.pid}" in message
        assert "\n" not in message
