"""Job kinds of the data and training pages: the long work those pages used to do in their own script.

Each is one unit of committed work (one transaction, or one folder renamed into place at the end), so
none resumes: a server restart in the middle leaves the job ``interrupted`` with nothing half-written,
and Retry (Jobs page) runs it again from the start.

- ``import-exam``: an exam bank file (saved by the page under the data folder's ``uploads/``) into an exam
  dataset (``studio.data.exams.importer.import_exam``): all rows or none, or the valid ones; io.
- ``convert``: an exam bank -> QA or choice pairs (``studio.data.exams.convert.convert``), io.
- ``export``: a dataset or snapshot -> files a trainer reads (``studio.data.export.export``), io.
- ``dedup``: ``action`` ``find`` lists duplicate groups (the result); ``remove`` deletes all but one
  per group of a finished find, refused when the count the user confirmed no longer holds, io.
- ``refresh-flags``: recompute a dataset's review flags (``studio.data.review.refresh``), io.
- ``merge``: a LoRA run merged into its base model, saved as a folder (``studio.train.merge.merge``), model.
"""
from __future__ import annotations

from typing import Any

from studio.core.errors import InputError
from studio.core.exam_rules import type_word
from studio.core.i18n import N_, _, ngettext
from studio.service.jobs import Context, get, kind

SHOWN_GROUPS = 100  # duplicate groups kept with their rows in a find's result (the page shows these)


def _stages(ctx: Context):
    """A progress callback for the data functions: record it, and stop at the next stage on a cancel."""
    def progress(done: int, total: int, message: str | None = None) -> None:
        ctx.progress(done, total, message, force=done in (0, total))
        ctx.check()
    return progress


SHOWN_ERRORS = 100  # invalid rows kept in an import's result (every one stays in its ``imports`` record)


@kind("import-exam", N_("Import an exam bank"))
def import_exam(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """One transaction, as on the CLI: a cancel or a restart before the write leaves nothing behind."""
    from studio.data.exams import importer

    def progress(fraction: float, text: str) -> None:
        ctx.progress(int(round(fraction * 1000)), 1000, text, force=fraction in (0.0, 1.0))
        if fraction <= 0.8:  # 0.8: just before the one transaction; after it, the work is done
            ctx.check()

    options = importer.ImportOptions.from_json(args.get("options"))
    summary = importer.import_exam(args["path"], args["dataset"], options, display_name=args.get("file"),
                                   progress=progress)
    preview = summary.pop("_preview")
    summary.pop("_import_id", None)
    errors = summary.pop("errors")
    return {**summary, "errors": errors[:SHOWN_ERRORS], "file": preview.file, "notes": preview.notes,
            "duplicates": len(preview.duplicates), "message": imported_message(summary)}


def imported_message(summary: dict[str, Any]) -> str:
    """One line saying what an import wrote (the page bolds the dataset's name itself)."""
    types = ", ".join(f"{type_word(k)} {v}" for k, v in summary["by_type"].items() if v)
    return ngettext("Imported {n} question into {dataset} ({types}); rejected {rejected}.",
                    "Imported {n} questions into {dataset} ({types}); rejected {rejected}.",
                    summary["imported"]).format(n=summary["imported"], dataset=summary["dataset"],
                                                types=types or _("none"), rejected=summary["rejected"])


@kind("convert", N_("Convert an exam bank"))
def convert(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data.exams import convert as cv

    ctx.progress(0, 1, _("converting {dataset} into {into}").format(dataset=args["dataset"], into=args["into"]),
                 force=True)
    ctx.check()
    result = cv.convert(args["dataset"], **{k: v for k, v in args.items() if k != "dataset"})
    ctx.progress(1, 1, force=True)
    return {**result, "message": converted_message(result)}


def converted_message(result: dict[str, Any]) -> str:
    """One line saying what a conversion wrote."""
    if result["_replaced"]:
        return _("Wrote {n} pairs into {dataset} (replacing {replaced} converted earlier).").format(
            n=result["samples"], dataset=result["dataset"], replaced=result["_replaced"])
    return _("Wrote {n} pairs into {dataset}.").format(n=result["samples"], dataset=result["dataset"])


@kind("export", N_("Export"))
def export(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import export as ex

    result = ex.export(**args, progress=_stages(ctx))
    return {**result, "message": _("Exported {train:,} train + {validation:,} validation samples to {out}").format(
        train=result["train"], validation=result["validation"], out=result["out"])}


@kind("dedup", N_("Find or remove duplicates"))
def dedup(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import samples

    if args.get("action") == "remove":
        return _remove_duplicates(args, ctx)
    progress = _stages(ctx)
    progress(0, 1, _("reading the samples"))
    flt = samples.make_filter(**(args.get("filter") or {}))
    found = samples.find_duplicates(args["dataset"], flt, near=bool(args.get("near", True)),
                                    threshold=float(args.get("threshold", 0.8)), progress=progress)
    groups = [{"kind": g["kind"], "keep": g["keep"], "ids": [r["id"] for r in g["rows"]]} for g in found["groups"]]
    return {"dataset": args["dataset"], "rows": found["rows"], "duplicates": found["duplicates"], "groups": groups,
            "shown": found["groups"][:SHOWN_GROUPS],
            "message": _("{groups} group(s) among {rows:,} rows; {duplicates} row(s) would go").format(
                groups=len(groups), rows=found["rows"], duplicates=found["duplicates"])}


def _remove_duplicates(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import samples

    find = get(args["find_job"])
    if find["kind"] != "dedup" or find["state"] != "done" or find["args"].get("dataset") != args["dataset"]:
        raise InputError(_("job {id} is not a finished search for duplicates in {dataset}; find duplicates "
                           "again").format(id=find["id"], dataset=repr(args["dataset"])))
    ctx.progress(0, 1, _("deleting duplicates"), force=True)
    ctx.check()
    groups = [{"keep": g["keep"], "rows": [{"id": i} for i in g["ids"]]} for g in find["result"]["groups"]]
    done = samples.remove_duplicates(args["dataset"], groups, confirm=int(args["confirm"]))
    ctx.progress(1, 1, force=True)
    return {**done, "message": _("Deleted {n} duplicate rows (undo under Bulk actions).").format(n=done["affected"])}


@kind("refresh-flags", N_("Recompute review flags"))
def refresh_flags(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import review

    n = review.refresh(args["dataset"], progress=_stages(ctx))
    return {"dataset": args["dataset"], "changed": n,
            "message": _("Flags recomputed: {n} sample(s) changed.").format(n=n)}


@kind("merge", N_("Merge a LoRA run into its base"), slot="model")
def merge(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.train import merge as mg

    result = mg.merge(args["run"], args.get("out"), progress=_stages(ctx))
    return {**result, "message": _("Saved the merged model to {out}").format(out=result["out"])}
