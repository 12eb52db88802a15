"""Job kinds of the data and training pages: the long work those pages used to do in their own script.

Each is one unit of committed work (one transaction, or one folder renamed into place at the end), so
none resumes: a server restart in the middle leaves the job ``interrupted`` with nothing half-written,
and Retry (Jobs page) runs it again from the start.

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
from studio.service.jobs import Context, get, kind

SHOWN_GROUPS = 100  # duplicate groups kept with their rows in a find's result (the page shows these)


def _stages(ctx: Context):
    """A progress callback for the data functions: record it, and stop at the next stage on a cancel."""
    def progress(done: int, total: int, message: str | None = None) -> None:
        ctx.progress(done, total, message, force=done in (0, total))
        ctx.check()
    return progress


@kind("convert", "Convert an exam bank")
def convert(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data.exams import convert as cv

    ctx.progress(0, 1, f"converting {args['dataset']} into {args['into']}", force=True)
    ctx.check()
    result = cv.convert(args["dataset"], **{k: v for k, v in args.items() if k != "dataset"})
    replaced = f" (replacing {result['_replaced']} converted earlier)" if result["_replaced"] else ""
    ctx.progress(1, 1, force=True)
    return {**result, "message": f"Wrote {result['samples']} pairs into {result['dataset']}{replaced}."}


@kind("export", "Export")
def export(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import export as ex

    result = ex.export(**args, progress=_stages(ctx))
    return {**result, "message": f"Exported {result['train']:,} train + {result['validation']:,} validation "
                                 f"samples to {result['out']}"}


@kind("dedup", "Find or remove duplicates")
def dedup(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import samples

    if args.get("action") == "remove":
        return _remove_duplicates(args, ctx)
    progress = _stages(ctx)
    progress(0, 1, "reading the samples")
    flt = samples.make_filter(**(args.get("filter") or {}))
    found = samples.find_duplicates(args["dataset"], flt, near=bool(args.get("near", True)),
                                    threshold=float(args.get("threshold", 0.8)), progress=progress)
    groups = [{"kind": g["kind"], "keep": g["keep"], "ids": [r["id"] for r in g["rows"]]} for g in found["groups"]]
    return {"dataset": args["dataset"], "rows": found["rows"], "duplicates": found["duplicates"], "groups": groups,
            "shown": found["groups"][:SHOWN_GROUPS],
            "message": f"{len(groups)} group(s) among {found['rows']:,} rows; {found['duplicates']} row(s) would go"}


def _remove_duplicates(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import samples

    find = get(args["find_job"])
    if find["kind"] != "dedup" or find["state"] != "done" or find["args"].get("dataset") != args["dataset"]:
        raise InputError(f"job {find['id']} is not a finished search for duplicates in {args['dataset']!r}; "
                         "find duplicates again")
    ctx.progress(0, 1, "deleting duplicates", force=True)
    ctx.check()
    groups = [{"keep": g["keep"], "rows": [{"id": i} for i in g["ids"]]} for g in find["result"]["groups"]]
    done = samples.remove_duplicates(args["dataset"], groups, confirm=int(args["confirm"]))
    ctx.progress(1, 1, force=True)
    return {**done, "message": f"Deleted {done['affected']} duplicate rows (undo under Bulk actions)."}


@kind("refresh-flags", "Recompute review flags")
def refresh_flags(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.data import review

    n = review.refresh(args["dataset"], progress=_stages(ctx))
    return {"dataset": args["dataset"], "changed": n, "message": f"Flags recomputed: {n} sample(s) changed."}


@kind("merge", "Merge a LoRA run into its base", slot="model")
def merge(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from studio.train import merge as mg

    result = mg.merge(args["run"], args.get("out"), progress=_stages(ctx))
    return {**result, "message": f"Saved the merged model to {result['out']}"}
