"""Exam banks: ``import exam``, ``inspect exam`` and ``convert``."""
from __future__ import annotations

import sys

from studio.cli import command
from studio.core.i18n import N_, _, ngettext


def _file_options(p, verb: str) -> None:
    """The options ``import exam`` and ``inspect exam`` share: which sheets, header row, mapping."""
    p.add_argument("file", metavar="FILE")
    p.add_argument("--sheet", action="append", default=None, metavar="NAME",
                   help=(_("workbook sheet to import (repeatable; default: every sheet that holds questions)")
                         if verb == "import" else
                         _("workbook sheet to inspect (repeatable; default: every sheet that holds questions)")))
    p.add_argument("--header-row", action="append", default=None, metavar="N",
                   help=_("the row holding the column names (1 = the first row; 0 = none), or SHEET:N for one "
                          "sheet (default: detected among the first 10 rows)"))
    p.add_argument("--no-header", action="store_true", help=_("the first row is a question, not column names"))
    p.add_argument("--map", action="append", default=None, metavar="FIELD=COLUMN",
                   help=_("FIELD (subject type question options A..H answer explanation id) = a header name or "
                          "a 1-based column number; answer=5+6+7 joins several answer columns in order; "
                          "SHEET:FIELD=COLUMN for one sheet; FIELD= unmaps"))
    p.add_argument("--judge-01", choices=["0=正确", "1=正确"], default=None,
                   help=_("how 0/1 judge answers read (default 0=正确, the convention of the banks seen so far)"))


def register(sub, groups) -> None:
    from studio.data.exams.read import SUFFIXES

    kinds = " ".join(SUFFIXES)
    p = command(groups["import"], "exam", _import_exam,
                _("import an exam bank ({kinds}): all rows or none, or the valid ones with --skip-invalid").format(
                    kinds=kinds))
    _file_options(p, "import")
    p.add_argument("--dataset", required=True, help=_("exam dataset to import into (created when missing)"))
    p.add_argument("--skip-invalid", action="store_true",
                   help=_("import the valid rows and report the others (default: any invalid row -> nothing "
                          "written)"))
    p.set_defaults(render=_render_import)

    inspect = sub.add_parser("inspect", help=_("show how a file would be read, writing nothing"))
    what = inspect.add_subparsers(dest="what", metavar="WHAT", parser_class=type(inspect))
    p = command(what, "exam", _inspect_exam,
                _("show how an exam bank would be read, per sheet: header row, each field's column and why, the "
                  "type source, counts by type, the first errors (nothing is written)"))
    _file_options(p, "inspect")
    p.add_argument("--errors", type=int, default=5, metavar="K", help=_("errors shown per sheet (default 5)"))
    p.set_defaults(render=_render_inspect, forward=False)  # reads the file here, writes nothing anywhere

    p = command(sub, "convert", _convert, _("turn an exam dataset into QA or choice training pairs"))
    p.add_argument("--dataset", required=True, help=_("the exam dataset"))
    p.add_argument("--to", required=True, choices=["qa", "choice"], help=_("qa: 一问一答; choice: 带选项"))
    p.add_argument("--into", required=True, help=_("samples dataset to write (created when missing; pairs "
                                                   "converted earlier from the same questions are replaced)"))
    p.add_argument("--template", default=None, help=_("convert template name (default: qa or choice)"))
    p.add_argument("--shuffle-options", type=int, default=0, metavar="K",
                   help=_("add K copies of each choice question with shuffled options (0 to 50)"))
    p.add_argument("--seed", type=int, default=0, help=_("seed of the option shuffle (0 to 2147483647)"))
    p.add_argument("--prefix", default=None, help=_("domain prefix put before every prompt (kept on the dataset)"))
    p.add_argument("--system", default=None, help=_("system prompt of every pair (kept on the dataset)"))


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


def _counts(by_type: dict) -> str:
    from studio.core.exam_rules import type_word

    return ", ".join(f"{type_word(t)} {n}" for t, n in by_type.items() if n) or _("none")


def _render_inspect(s: dict) -> str:
    """The layout as a person reads it: one block per sheet."""
    kind = f"{s['kind']}, {s['encoding']}" if s["encoding"] else s["kind"]
    head = _("{file} ({kind}): {rows} rows, {valid} valid, {invalid} invalid").format(
        file=s["file"], kind=kind, rows=s["rows"], valid=s["valid"], invalid=s["invalid"])
    if s["duplicates"]:
        head = _("{summary}, {n} duplicates").format(summary=head, n=s["duplicates"])
    lines = [head, *s["skipped"]]
    for sh in s["sheets"]:
        lines += ["", *_render_sheet(sh)]
    lines += [_("note: {note}").format(note=note) for note in s["notes"]]
    return "\n".join(lines)


def _render_sheet(sh: dict) -> list[str]:
    from studio.data.exams.mapping import field_name

    name = _("sheet {sheet}").format(sheet=sh["sheet"]) if sh["sheet"] else _("table")
    header = (_("header row {row}").format(row=sh["header_row"]) if sh["header_row"] is not None
              else _("no header row"))
    lines = [_("{name}: {rows} data rows, {header} ({how})").format(
        name=name, rows=sh["rows"], header=header, how=_(DETECTED.get(sh["detected"], sh["detected"])))]
    for f, c in sh["fields"].items():
        cols = " + ".join(f"{n}: {h}" if h else _("column {n}").format(n=n) for n, h in zip(c["columns"], c["headers"]))
        sample = _(" e.g. {sample}").format(sample=repr(c["sample"])) if c["sample"] else ""
        line = f"  {field_name(f):<12} {cols}{sample}"
        lines.append(f"{line} ({c['why']})" if c["why"] else line)
    if sh["options_in_question"]:
        lines.append("  " + _("options inside the question cell ({how})").format(how=sh["options_in_question"]))
    lines.append("  " + _("type from: {source}").format(source=sh["type_source"]))
    for u in sh["unread"]:
        lines.append("  " + _("NOT READ column {column}: {header} ({why}): its rows are not valid").format(
            column=u["column"], header=u["header"], why=u["why"]))
    lines.append("  " + _("valid {valid} ({counts}); invalid {invalid}").format(
        valid=sh["valid"], counts=_counts(sh["by_type"]), invalid=sh["invalid"]))
    lines += ["  " + _error_line(e) for e in sh["errors"]]
    return lines


DETECTED = {"header": N_("detected from the header"), "content": N_("inferred from the content"),
            "user": N_("as you mapped it")}


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
    finally:
        bar.close()
    preview = summary.pop("_preview")
    summary.pop("_import_id", None)
    for note in preview.notes:
        print(_("note: {note}").format(note=note), file=sys.stderr)
    if preview.duplicates:
        shown = "; ".join(_error_line(d) for d in preview.duplicates[:10]) + (" …" if len(preview.duplicates) > 10 else "")
        print(ngettext("note: {n} duplicate question imported: {rows}", "note: {n} duplicate questions imported: {rows}",
                       len(preview.duplicates)).format(n=len(preview.duplicates), rows=shown), file=sys.stderr)
    if summary["errors"] and not getattr(args, "json", False):
        for e in summary["errors"]:
            print(_("skipped {row}").format(row=_error_line(e)), file=sys.stderr)
    return summary


def _error_line(e: dict) -> str:
    if e.get("sheet"):
        return _("sheet {sheet} row {row}: {reason}").format(sheet=e["sheet"], row=e["row"], reason=e["reason"])
    return _("row {row}: {reason}").format(row=e["row"], reason=e["reason"])


def _render_import(summary: dict) -> str:
    return ngettext("imported {n} question into {dataset} ({types}); rejected {rejected}",
                    "imported {n} questions into {dataset} ({types}); rejected {rejected}",
                    summary["imported"]).format(n=summary["imported"], dataset=summary["dataset"],
                                                types=_counts(summary["by_type"]), rejected=summary["rejected"])


def _convert(args) -> dict:
    from studio.data.exams.convert import convert

    summary = convert(args.dataset, to=args.to, into=args.into, template_name=args.template,
                      shuffle=args.shuffle_options, seed=args.seed, prefix=args.prefix, system=args.system)
    summary.pop("_replaced", None)
    return summary
