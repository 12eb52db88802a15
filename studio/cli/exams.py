"""Exam banks: ``import exam`` and ``convert``."""
from __future__ import annotations

import sys

from studio.cli import command


def register(sub, groups) -> None:
    p = command(groups["import"], "exam", _import_exam,
                "import an exam bank (.xlsx .xls .csv .tsv .json .jsonl): all rows or none, "
                "or the valid ones with --skip-invalid")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--dataset", required=True, help="exam dataset to import into (created when missing)")
    p.add_argument("--sheet", action="append", default=None, metavar="NAME",
                   help="workbook sheet to import (repeatable; default: every sheet)")
    p.add_argument("--no-header", action="store_true", help="the first row is a question, not column names")
    p.add_argument("--map", action="append", default=None, metavar="FIELD=COLUMN",
                   help="FIELD (subject type question options A..H answer explanation id) = a header name or "
                        "a 1-based column number; SHEET:FIELD=COLUMN for one sheet; FIELD= unmaps")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows and report the others (default: any invalid row -> nothing written)")
    p.add_argument("--judge-01", choices=["0=正确", "1=正确"], default=None,
                   help="how 0/1 judge answers read (default 0=正确, the convention of the banks seen so far)")
    p.set_defaults(render=_render_import)

    p = command(sub, "convert", _convert, "turn an exam dataset into QA or choice training pairs")
    p.add_argument("--dataset", required=True, help="the exam dataset")
    p.add_argument("--to", required=True, choices=["qa", "choice"], help="qa: 一问一答; choice: 带选项")
    p.add_argument("--into", required=True, help="samples dataset to write (created when missing; "
                                                 "pairs converted earlier from the same questions are replaced)")
    p.add_argument("--template", default=None, help="convert template name (default: qa or choice)")
    p.add_argument("--shuffle-options", type=int, default=0, metavar="K",
                   help="add K copies of each choice question with shuffled options")
    p.add_argument("--seed", type=int, default=0, help="seed of the option shuffle")
    p.add_argument("--prefix", default=None, help="domain prefix put before every prompt (kept on the dataset)")
    p.add_argument("--system", default=None, help="system prompt of every pair (kept on the dataset)")


def _progress():
    from tqdm import tqdm

    bar = tqdm(total=100, file=sys.stderr, disable=None, leave=False, bar_format="{l_bar}{bar}| {desc}")

    def update(fraction: float, text: str) -> None:
        bar.set_description_str(text)
        bar.update(max(0, int(fraction * 100) - bar.n))

    return bar, update


def _import_exam(args) -> dict:
    from studio.core.errors import WorkFailed
    from studio.data.exams.importer import ImportOptions, import_exam
    from studio.data.exams.mapping import parse_map_args

    options = ImportOptions(sheets=args.sheet, no_header=args.no_header, overrides=parse_map_args(args.map),
                            zero_is_true=None if args.judge_01 is None else args.judge_01 == "0=正确",
                            skip_invalid=args.skip_invalid)
    bar, update = _progress()
    try:
        summary = import_exam(args.file, args.dataset, options, progress=update)
    except WorkFailed as err:
        bar.close()
        if not getattr(args, "json", False) and getattr(err, "summary", None):
            for e in err.summary["errors"]:
                print(_error_line(e), file=sys.stderr)
        raise
    bar.close()
    preview = summary.pop("_preview")
    summary.pop("_import_id", None)
    for note in preview.notes:
        print(f"note: {note}", file=sys.stderr)
    if preview.duplicates:
        print(f"note: {len(preview.duplicates)} duplicate question(s) imported: "
              + "; ".join(_error_line(d) for d in preview.duplicates[:10])
              + (" …" if len(preview.duplicates) > 10 else ""), file=sys.stderr)
    if summary["errors"] and not getattr(args, "json", False):
        for e in summary["errors"]:
            print("skipped " + _error_line(e), file=sys.stderr)
    return summary


def _error_line(e: dict) -> str:
    return (f"sheet {e['sheet']} " if e.get("sheet") else "") + f"row {e['row']}: {e['reason']}"


def _render_import(summary: dict) -> str:
    types = ", ".join(f"{k} {v}" for k, v in summary["by_type"].items() if v)
    return (f"imported {summary['imported']} questions into {summary['dataset']} ({types or 'none'}); "
            f"rejected {summary['rejected']}")


def _convert(args) -> dict:
    from studio.data.exams.convert import convert

    summary = convert(args.dataset, to=args.to, into=args.into, template_name=args.template,
                      shuffle=args.shuffle_options, seed=args.seed, prefix=args.prefix, system=args.system)
    summary.pop("_replaced", None)
    return summary
