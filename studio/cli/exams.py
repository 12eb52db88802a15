"""Exam banks: ``import exam``, ``inspect exam`` and ``convert``."""
from __future__ import annotations

import sys

from studio.cli import command


def _file_options(p, verb: str) -> None:
    """The options ``import exam`` and ``inspect exam`` share: which sheets, header row, mapping."""
    p.add_argument("file", metavar="FILE")
    p.add_argument("--sheet", action="append", default=None, metavar="NAME",
                   help=f"workbook sheet to {verb} (repeatable; default: every sheet that holds questions)")
    p.add_argument("--header-row", action="append", default=None, metavar="N",
                   help="the row holding the column names (1 = the first row; 0 = none), or SHEET:N for one "
                        "sheet (default: detected among the first 10 rows)")
    p.add_argument("--no-header", action="store_true", help="the first row is a question, not column names")
    p.add_argument("--map", action="append", default=None, metavar="FIELD=COLUMN",
                   help="FIELD (subject type question options A..H answer explanation id) = a header name or "
                        "a 1-based column number; answer=5+6+7 joins several answer columns in order; "
                        "SHEET:FIELD=COLUMN for one sheet; FIELD= unmaps")
    p.add_argument("--judge-01", choices=["0=正确", "1=正确"], default=None,
                   help="how 0/1 judge answers read (default 0=正确, the convention of the banks seen so far)")


def register(sub, groups) -> None:
    from studio.data.exams.read import SUFFIXES

    kinds = " ".join(SUFFIXES)
    p = command(groups["import"], "exam", _import_exam,
                f"import an exam bank ({kinds}): all rows or none, or the valid ones with --skip-invalid")
    _file_options(p, "import")
    p.add_argument("--dataset", required=True, help="exam dataset to import into (created when missing)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows and report the others (default: any invalid row -> nothing written)")
    p.set_defaults(render=_render_import)

    inspect = sub.add_parser("inspect", help="show how a file would be read, writing nothing")
    what = inspect.add_subparsers(dest="what", metavar="WHAT", parser_class=type(inspect))
    p = command(what, "exam", _inspect_exam,
                "show how an exam bank would be read, per sheet: header row, each field's column and why, the "
                "type source, counts by type, the first errors (nothing is written)")
    _file_options(p, "inspect")
    p.add_argument("--errors", type=int, default=5, metavar="K", help="errors shown per sheet (default 5)")
    p.set_defaults(render=_render_inspect, forward=False)  # reads the file here, writes nothing anywhere

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


def _options(args):
    from studio.data.exams.importer import ImportOptions
    from studio.data.exams.mapping import parse_header_rows, parse_map_args

    return ImportOptions(sheets=args.sheet, no_header=args.no_header, overrides=parse_map_args(args.map),
                         zero_is_true=None if args.judge_01 is None else args.judge_01 == "0=正确",
                         skip_invalid=getattr(args, "skip_invalid", False),
                         header_rows=parse_header_rows(args.header_row))


def _inspect_exam(args) -> dict:
    from studio.data.exams.importer import inspect

    return inspect(args.file, _options(args), errors=args.errors)


def _render_inspect(s: dict) -> str:
    """The layout as a person reads it: one block per sheet."""
    lines = [f"{s['file']} ({s['kind']}{', ' + s['encoding'] if s['encoding'] else ''}): {s['rows']} rows, "
             f"{s['valid']} valid, {s['invalid']} invalid" + (f", {s['duplicates']} duplicates" if s["duplicates"] else "")]
    for skipped in s["skipped"]:
        lines.append(skipped)
    for sh in s["sheets"]:
        name = f"sheet {sh['sheet']}" if sh["sheet"] else "table"
        header = f"header row {sh['header_row']}" if sh["header_row"] is not None else "no header row"
        lines += ["", f"{name}: {sh['rows']} data rows, {header} ({sh['detected']})"]
        for f, c in sh["fields"].items():
            cols = " + ".join(f"{n}: {h}" if h else f"column {n}" for n, h in zip(c["columns"], c["headers"]))
            sample = f" e.g. {c['sample']!r}" if c["sample"] else ""
            lines.append(f"  {f:<12} {cols}{sample} ({c['why']})" if c["why"] else f"  {f:<12} {cols}{sample}")
        if sh["options_in_question"]:
            lines.append(f"  options      inside the question cell ({sh['options_in_question']})")
        lines.append(f"  type from    {sh['type_source']}")
        for u in sh["unread"]:
            lines.append(f"  NOT READ     column {u['column']}: {u['header']} ({u['why']}): its rows are not valid")
        counts = ", ".join(f"{t} {n}" for t, n in sh["by_type"].items() if n) or "none"
        lines.append(f"  valid        {sh['valid']} ({counts}); invalid {sh['invalid']}")
        for e in sh["errors"]:
            lines.append(f"  row {e['row']}: {e['reason']}")
    for note in s["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _import_exam(args) -> dict:
    from studio.core.errors import WorkFailed
    from studio.data.exams.importer import import_exam

    options = _options(args)
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
