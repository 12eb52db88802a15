"""Dataset commands: import pairs, snapshot, snapshots, export, dedup, undo."""
from __future__ import annotations

from studio.cli import command
from studio.core.errors import InputError


def register(sub, groups) -> None:
    p = command(groups["import"], "pairs", _import_pairs,
                "import training pairs: Alpaca, content/summary, ShareGPT, OpenAI messages "
                "(JSON, JSON lines, Parquet, CSV, XLSX or a datasets folder; detected by content)")
    p.add_argument("file", metavar="FILE", help="a file or a datasets save_to_disk folder")
    p.add_argument("--dataset", required=True, help="samples dataset to import into (created when missing)")
    p.add_argument("--status", default="accepted", help="status of the imported samples (default accepted)")
    p.add_argument("--strict", action="store_true", help="refuse the whole file if any row is invalid")

    p = command(sub, "snapshot", _snapshot, "freeze a dataset's accepted samples into a snapshot "
                "(train / validation split by seed, stratified by type; same data twice = same snapshot)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--val-ratio", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mix", action="append", default=[], metavar="NAME=FRACTION",
                   help="mix in another dataset's accepted samples as this share of the snapshot (repeatable)")
    p.add_argument("--name")
    p.add_argument("--write", metavar="DIR", help="also write train.jsonl / validation.jsonl into DIR")

    command(sub, "snapshots", _snapshots, "list snapshots")

    p = command(sub, "export", _export, "export a dataset or a snapshot (formats: "
                "chatglm alpaca sharegpt messages hf parquet csv xlsx) under STUDIO_EXPORTS")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset")
    src.add_argument("--snapshot")
    from exports.registry import choices

    p.add_argument("--format", required=True, choices=choices())
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into (created; an existing non-empty one needs --force)")
    p.add_argument("--val-ratio", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--status", action="append", default=None,
                   help="export samples with this status (repeatable; default all but rejected)")
    p.add_argument("--max-source-length", type=int, help="warn about longer prompts")
    p.add_argument("--max-target-length", type=int, help="warn about longer answers")
    p.add_argument("--tokenizer", metavar="DIR", help="count lengths in this tokenizer's tokens")
    p.add_argument("--force", action="store_true", help="overwrite an existing export folder")

    p = command(sub, "dedup", _dedup, "find exact and near-duplicate samples; --apply keeps one per group")
    p.add_argument("--dataset", required=True)
    p.add_argument("--threshold", type=float, default=0.8, help="near-duplicate Jaccard threshold")
    p.add_argument("--exact-only", action="store_true")
    p.add_argument("--apply", action="store_true", help="delete all but one row per group (undoable)")

    p = command(sub, "undo", _undo, "undo the last bulk action of a dataset")
    p.add_argument("--dataset", required=True)

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
            raise InputError(f"--mix takes NAME=FRACTION, not {item!r}")
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
        print(f"warning: {w}", file=sys.stderr)
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

