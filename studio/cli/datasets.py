"""Dataset commands: import pairs, snapshot, snapshots, export, dedup, undo."""
from __future__ import annotations

from studio.cli import command
from studio.core.errors import InputError
from studio.core.i18n import _


def register(sub, groups) -> None:
    p = command(groups["import"], "pairs", _import_pairs,
                _("import training pairs: Alpaca, content/summary, ShareGPT (tool calls too), OpenAI messages "
                  "(JSON, JSON lines, Parquet, CSV, XLSX or a datasets folder; detected by content)"))
    p.add_argument("file", metavar="FILE", help=_("a file or a datasets save_to_disk folder"))
    p.add_argument("--dataset", required=True, help=_("samples dataset to import into (created when missing)"))
    p.add_argument("--status", default="accepted", help=_("status of the imported samples (default accepted)"))
    p.add_argument("--strict", action="store_true", help=_("refuse the whole file if any row is invalid"))

    p = command(sub, "snapshot", _snapshot, _("freeze a dataset's accepted samples into a snapshot "
                "(train / validation split by seed, stratified by type; same data twice = same snapshot)"))
    p.add_argument("--dataset", required=True, help=_("the dataset to freeze"))
    p.add_argument("--val-ratio", type=float, default=0.1, help=_("validation share, 0 to 0.9 (default 0.1)"))
    p.add_argument("--seed", type=int, default=0, help=_("seed of the split (default 0)"))
    p.add_argument("--mix", action="append", default=[], metavar="NAME=FRACTION",
                   help=_("mix in another dataset's accepted samples as this share of the snapshot (repeatable)"))
    p.add_argument("--name", help=_("a name for the snapshot (default: the dataset and its size)"))
    p.add_argument("--write", metavar="DIR", help=_("also write train.jsonl / validation.jsonl into DIR"))

    command(sub, "snapshots", _snapshots, _("list snapshots"))

    p = command(sub, "export", _export, _("export a dataset or a snapshot (formats: "
                "chatglm alpaca sharegpt messages hf parquet csv xlsx) under STUDIO_EXPORTS"))
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help=_("the dataset to export"))
    src.add_argument("--snapshot", help=_("the snapshot to export (its id or a unique start of it)"))
    from exports.registry import choices

    p.add_argument("--format", required=True, choices=choices(), help=_("the file format a trainer reads"))
    p.add_argument("--out", required=True, metavar="DIR",
                   help=_("folder to write into (created; an existing non-empty one needs --force)"))
    p.add_argument("--val-ratio", type=float, default=None, help=_("validation share, 0 to 0.9 (default: none)"))
    p.add_argument("--seed", type=int, default=0, help=_("seed of the split (default 0)"))
    p.add_argument("--status", action="append", default=None,
                   help=_("export samples with this status (repeatable; default all but rejected)"))
    p.add_argument("--max-source-length", type=int, help=_("warn about longer prompts"))
    p.add_argument("--max-target-length", type=int, help=_("warn about longer answers"))
    p.add_argument("--tokenizer", metavar="DIR", help=_("count lengths in this tokenizer's tokens"))
    p.add_argument("--force", action="store_true", help=_("overwrite an existing export folder"))

    p = command(sub, "dedup", _dedup, _("find exact and near-duplicate samples; --apply keeps one per group"))
    p.add_argument("--dataset", required=True, help=_("the dataset to look in"))
    p.add_argument("--threshold", type=float, default=0.8,
                   help=_("near-duplicate Jaccard similarity, 0.5 to 1 (default 0.8)"))
    p.add_argument("--exact-only", action="store_true", help=_("only exact duplicates"))
    p.add_argument("--apply", action="store_true", help=_("delete all but one row per group (undoable)"))

    p = command(sub, "undo", _undo, _("undo the last bulk action of a dataset"))
    p.add_argument("--dataset", required=True, help=_("the dataset whose last bulk action to undo"))


def _import_pairs(args) -> dict:
    from studio.data.pairs import import_pairs

    return import_pairs(args.file, args.dataset, status=args.status, strict=args.strict)


def _parse_mix(items: list[str]) -> dict[str, float]:
    mix = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            mix[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(_("--mix takes NAME=FRACTION, not {item}").format(item=repr(item)))
    return mix


def _snapshot(args) -> dict:
    from studio.data import snapshots

    snap = snapshots.create(args.dataset, val_ratio=args.val_ratio, seed=args.seed, mix=_parse_mix(args.mix),
                            name=args.name)
    if args.write:
        snap["files"] = snapshots.write_jsonl(snap["id"], args.write)
    return snap


def _snapshots(args) -> dict:
    from studio.data import snapshots

    return {"snapshots": snapshots.list_all()}


def _export(args) -> dict:
    from studio.data.export import export

    result = export(format=args.format, out=args.out, dataset=args.dataset, snapshot=args.snapshot,
                    val_ratio=args.val_ratio, seed=args.seed, statuses=args.status, force=args.force,
                    max_source_length=args.max_source_length, max_target_length=args.max_target_length,
                    tokenizer_dir=args.tokenizer, confine=False)
    import sys

    for w in result["warnings"]:
        print(_("warning: {message}").format(message=w), file=sys.stderr)
    return result


def _dedup(args) -> dict:
    from studio.data import samples

    found = samples.find_duplicates(args.dataset, near=not args.exact_only, threshold=args.threshold)
    out = {"dataset": args.dataset, "rows": found["rows"], "groups": len(found["groups"]),
           "exact": sum(g["kind"] == "exact" for g in found["groups"]),
           "near": sum(g["kind"] == "near" for g in found["groups"]), "duplicates": found["duplicates"],
           "removed": 0}
    if args.apply:
        out["removed"] = samples.remove_duplicates(args.dataset, found["groups"])["affected"]
    return out


def _undo(args) -> dict:
    from studio.data import samples

    return samples.undo_last(args.dataset)
