"""The CLI contract: --help, --db / STUDIO_DB, --json, exit codes, the lock message."""
import json

from store import datasets, db
from tests.conftest import held_database, run_cli


def test_help_lists_the_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in ("status", "import", "demo-model", "init"):
        assert name in out.stdout


def test_status_json_matches_the_database(studio_env):
    path = studio_env / "cli.duckdb"
    datasets.create("安规", "exam", path=path)
    did = datasets.find("安规", path=path)["id"]
    db.cursor(path).execute(
        "INSERT INTO samples (dataset_id, instruction, output, status, origin) VALUES "
        "(?, 'q1', 'a1', 'accepted', 'exam-qa'), (?, 'q2', 'a2', 'pending', 'generated'), "
        "(?, 'q3', 'a3', 'accepted', 'exam-qa')", [did, did, did])
    db.close(path)
    out = run_cli("status", "--db", str(path), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["db"] == str(path.resolve())
    assert summary["totals"]["samples"] == 3
    [ds] = summary["datasets"]
    assert ds["name"] == "安规" and ds["by_status"] == {"accepted": 2, "pending": 1}
    assert ds["by_origin"] == {"exam-qa": 2, "generated": 1}
    # STUDIO_DB works the same as --db
    out = run_cli("status", "--json", env={"STUDIO_DB": str(path)})
    assert json.loads(out.stdout)["totals"]["samples"] == 3


def test_held_database_exits_2_with_one_line(studio_env):
    path = studio_env / "held.duckdb"
    with held_database(path):
        out = run_cli("status", "--db", str(path), "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "in use by another process" in lines[0] and "Traceback" not in out.stderr


def test_unusable_arguments_exit_2():
    out = run_cli("status", "--no-such-flag")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    out = run_cli("import")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_demo_model_builds_a_loadable_model(tmp_path):
    out = run_cli("demo-model", "--out", str(tmp_path / "m"), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["model_type"] == "llama"
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    text = "雷雨天气，需要巡视室外高压设备时，应穿___。\nA. 雨鞋"
    assert tok.decode(tok(text)["input_ids"]) == text  # CJK covered, nothing lost
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert model.config.model_type == "llama"
