"""``python -m studio import exam`` and ``convert`` in a real subprocess: exit codes and --json shapes."""
import json

from tests.conftest import DATA, ROOT, run_cli

EXAM = DATA / "exam"
KEYS = {"dataset", "imported", "rejected", "by_type", "errors"}


def test_import_and_convert_json(studio_env):
    r = run_cli("import", "exam", str(EXAM / "other_layouts/network_ethics_ampersand_answer_text.csv"),
                "--dataset", "伦理", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert set(s) == KEYS and s["imported"] == 27 and s["rejected"] == 0 and s["errors"] == []
    assert s["by_type"] == {"single": 8, "multi": 9, "judge": 10, "blank": 0, "open": 0}
    r = run_cli("convert", "--dataset", "伦理", "--to", "choice", "--into", "伦理-choice", "--shuffle-options", "2",
                "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"dataset": "伦理-choice", "samples": 27 + 17 * 2}


def test_all_or_nothing_exit_1_lists_every_error(studio_env):
    f = str(EXAM / "electrician/diangong_choose_gbk_noheader.csv")
    r = run_cli("import", "exam", f, "--dataset", "dg", "--json")
    assert r.returncode == 1
    s = json.loads(r.stdout)
    assert set(s) == KEYS and s["imported"] == 0 and s["rejected"] == 1
    assert s["errors"][0]["row"] == 921 and s["errors"][0]["sheet"] == ""
    r = run_cli("status", "--json")
    assert json.loads(r.stdout)["totals"]["questions"] == 0
    r = run_cli("import", "exam", f, "--dataset", "dg")  # text mode: every error on stderr
    assert r.returncode == 1 and "row 921:" in r.stderr
    r = run_cli("import", "exam", f, "--dataset", "dg", "--skip-invalid", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["imported"] == 1083


def test_mapping_and_sheets_on_the_cli(studio_env):
    f = str(EXAM / "power_safety/low_voltage_electrician_first_option_correct.xlsx")
    r = run_cli("import", "exam", f, "--dataset", "lv", "--sheet", "xz", "--no-header", "--map", "answer=2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["by_type"]["single"] == 402
    g = str(EXAM / "electrician/diangong_choose_gbk_noheader.csv")
    r = run_cli("import", "exam", g, "--dataset", "dg", "--no-header", "--map", "answer=7", "--map", "question=2",
                "--skip-invalid", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["imported"] == 1083
    r = run_cli("import", "exam", str(EXAM / "cmmlu/electrical_engineering_dev.csv"), "--dataset", "c",
                "--map", "answer=Answer", "--map", "question=Question", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["imported"] == 5


def test_unusable_input_exit_2_one_line(studio_env, tmp_path):
    cases = [
        [str(EXAM / "ceval_format/evalscope_example_val_2024-10_malformed.csv"), "--dataset", "x"],
        [str(tmp_path / "missing.csv"), "--dataset", "x"],
        [str(EXAM / "cmmlu/electrical_engineering_dev.csv"), "--dataset", "x", "--map", "answer=99"],
        [str(EXAM / "cmmlu/electrical_engineering_dev.csv"), "--dataset", "x", "--map", "bogus=1"],
        [str(EXAM / "cmmlu/electrical_engineering_dev.csv"), "--dataset", "x", "--map", "answer=不存在"],
    ]
    (tmp_path / "zero.xlsx").write_bytes(b"")
    cases.append([str(tmp_path / "zero.xlsx"), "--dataset", "x"])
    for args in cases:
        r = run_cli("import", "exam", *args, "--json")
        assert r.returncode == 2, (args, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    r = run_cli("import", "exam", *cases[0])
    assert "line 3" in r.stderr
    r = run_cli("convert", "--dataset", "nope", "--to", "qa", "--into", "y")
    assert r.returncode == 2 and "no dataset named 'nope'" in r.stderr


def test_help_lists_the_commands():
    r = run_cli("import", "exam", "--help")
    assert r.returncode == 0 and "--skip-invalid" in r.stdout and "--no-header" in r.stdout
    r = run_cli("convert", "--help")
    assert "--shuffle-options" in r.stdout and "--template" in r.stdout
