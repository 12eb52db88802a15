"""Export a dataset or a snapshot in any registered format, with a card and a LLaMA-Factory entry.

Decisions:
- On the page the output folder is a name under ``STUDIO_EXPORTS``; a name that resolves outside it is
  refused. The CLI's ``--out DIR`` is a folder path as the shell user gives it (``confine=False``).
- An existing non-empty folder is never overwritten unless ``force`` (the page asks first); files are
  written into a temporary sibling and moved into place, so a failed export leaves nothing half-written.
- From a dataset, every sample except ``rejected`` ones is exported unless statuses are given; an
  optional train / validation split uses the snapshot split (seeded, stratified by type). A snapshot
  carries its own split.
- ``dataset_info.json`` holds one entry per split (``NAME`` and ``NAME_validation``) for the formats
  LLaMA-Factory reads; ``README.md`` is the card: counts, origins, types, content hash, licence.
"""
from __future__ import annotations

import json
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exports import registry
from store import datasets as store_datasets
from store import snapshots as store_snapshots
from studio.core import settings
from studio.core.errors import InputError
from studio.data import lengths, snapshots

DEFAULT_STATUSES = ("draft", "pending", "accepted")


def exports_root() -> Path:
    """The folder every export goes under (``STUDIO_EXPORTS``)."""
    return settings.path("exports").resolve()


def target_folder(out: str | Path, *, confine: bool = True) -> Path:
    """The export folder for a name; with ``confine`` refuses anything outside ``STUDIO_EXPORTS``."""
    text = str(out or "").strip()
    if not text:
        raise InputError("name the export folder")
    if not confine:
        return Path(text).expanduser().resolve()
    root = exports_root()
    path = Path(text).expanduser()
    full = (path if path.is_absolute() else root / path).resolve()
    if full == root or root not in full.parents:
        raise InputError(f"export names must stay inside the export folder {root} (STUDIO_EXPORTS)", file=text)
    return full


def exists(out: str | Path, *, confine: bool = True) -> bool:
    """True when the export folder already holds files (exporting there needs ``force``)."""
    p = target_folder(out, confine=confine)
    return p.exists() and any(p.iterdir())


def _rows(dataset: str | None, snapshot: str | None, statuses, val_ratio, seed) -> tuple[dict, dict]:
    if bool(dataset) == bool(snapshot):
        raise InputError("export either a dataset or a snapshot")
    if snapshot:
        if val_ratio:
            raise InputError("a snapshot carries its own train / validation split; leave the ratio out")
        meta = snapshots.get(snapshot)
        rows = snapshots.samples(meta["id"])
        ds = store_datasets.find(meta["dataset"]) if meta.get("dataset") else None
        source = {"kind": "snapshot", "snapshot": meta["id"], "dataset": meta.get("dataset"),
                  "content_hash": meta["content_hash"], "licence": (ds or {}).get("licence")}
    else:
        ds = store_datasets.get(dataset)
        if ds["kind"] != "samples":
            raise InputError(f"dataset {dataset!r} holds {ds['kind']} records; convert or generate samples first")
        statuses = tuple(statuses or DEFAULT_STATUSES)
        rows = [snapshots._canonical(r) for r in store_snapshots.dataset_samples(ds["id"], statuses)]
        if not rows:
            raise InputError(f"dataset {dataset!r} has no samples with status {', '.join(statuses)}")
        if val_ratio:
            if not 0 < float(val_ratio) < 1:
                raise InputError(f"the validation ratio must be between 0 and 1, not {val_ratio}")
            rows = snapshots.split(rows, float(val_ratio), int(seed))
        else:
            rows = [{**r, "split": "train", "ord": i} for i, r in enumerate(rows)]
        source = {"kind": "dataset", "dataset": dataset, "statuses": list(statuses),
                  "content_hash": snapshots.content_hash(rows), "licence": ds.get("licence")}
    splits: dict[str, list] = {"train": [], "validation": []}
    for r in rows:
        splits[r["split"]].append(snapshots.record(r))
    if not splits["validation"]:
        del splits["validation"]
    return splits, source


def _safe_name(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_\-\u4e00-\u9fff]+", "_", text).strip("_") or "studio_export"


def _dataset_info(fmt: registry.Format, name: str, files: dict[str, str]) -> dict[str, Any]:
    if fmt.llama_factory is None:
        return {}
    out = {}
    for split, file_name in files.items():
        key = name if split == "train" else f"{name}_{split}"
        out[key] = {"file_name": file_name, **json.loads(json.dumps(fmt.llama_factory))}
    return out


def _card(fmt: registry.Format, name: str, splits: dict, source: dict, files: list[str], info: dict,
          warnings: list[str]) -> str:
    everything = [r for rows in splits.values() for r in rows]
    origins = Counter(r["origin"] or "unknown" for r in everything)
    types = Counter(r["qtype"] or "none" for r in everything)
    lines = [f"# {name}", "",
             f"Exported by the studio as **{fmt.label}**.", "",
             "| | |", "| --- | --- |",
             *(f"| {k} samples | {len(v)} |" for k, v in splits.items()),
             f"| source | {source['kind']} `{source.get('snapshot') or source.get('dataset')}` |"]
    if source.get("snapshot"):
        lines.append(f"| snapshot | `{source['snapshot']}` |")
    lines += [f"| content hash (sha256) | `{source['content_hash']}` |",
              f"| licence | {source.get('licence') or 'not stated — set one before sharing'} |", "",
              "## Origins", "", *(f"- {k}: {v}" for k, v in origins.most_common()), "",
              "## Types", "", *(f"- {k}: {v}" for k, v in types.most_common()), "",
              "## Files", "", *(f"- `{f}`" for f in files), "", "## Reading it", "", fmt.note, ""]
    if fmt.loader:
        lines += ["```python", "import datasets",
                  f"ds = datasets.load_dataset({fmt.loader!r}, data_files="
                  + repr({k: f"{k}{fmt.suffix}" for k in splits}) + ")", "```", ""]
    elif fmt.name == "hf":
        lines += ["```python", "import datasets", "ds = datasets.load_from_disk('.')", "```", ""]
    if info:
        lines += ["`dataset_info.json` here is a LLaMA-Factory registry: point `--dataset_dir` at this folder "
                  f"and use `--dataset {name}`" + (f" (`--eval_dataset {name}_validation`)" if len(info) > 1 else "")
                  + ".", ""]
    if warnings:
        lines += ["## Warnings", "", *(f"- {w}" for w in warnings), ""]
    return "\n".join(lines)


def export(*, format: str, out: str | Path, dataset: str | None = None, snapshot: str | None = None,
           val_ratio: float | None = None, seed: int = 0, statuses=None, force: bool = False,
           max_source_length: int | None = None, max_target_length: int | None = None,
           tokenizer_dir: str | None = None, confine: bool = True,
           progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Write an export; returns {"train", "validation", "files", "out", "format", "warnings", ...}.

    ``progress(done, total, stage)`` is called between the stages (a job's progress; it may raise to stop,
    and then nothing is left behind)."""
    progress = progress or (lambda done, total, stage: None)
    try:
        fmt = registry.get(format)
    except ValueError as err:
        raise InputError(str(err)) from None
    target = target_folder(out, confine=confine)
    if target.exists() and not target.is_dir():
        raise InputError("exists and is not a folder", file=str(target))
    if target.exists() and any(target.iterdir()) and not force:
        raise InputError("the export folder already exists; choose another name or overwrite it "
                         "(--force / the confirmation on the page)", file=str(target))
    progress(0, 3, "reading the samples")
    splits, source = _rows(dataset, snapshot, statuses, val_ratio, seed)
    progress(1, 3, "checking lengths")
    tokenizer = lengths.load_tokenizer(tokenizer_dir) if tokenizer_dir else None
    warns = lengths.warnings([r for rows in splits.values() for r in rows], max_source_length,
                             max_target_length, tokenizer)
    if format == "chatglm":
        n_system = sum(1 for rows in splits.values() for r in rows if r["system"])
        if n_system:
            warns.append(f"{n_system} samples have a system prompt, which content/summary cannot carry")
    if format == "xlsx":
        n_long = sum(1 for rows in splits.values() for r in rows
                     if max(len(r[k]) for k in ("instruction", "input", "output")) > 32767)
        if n_long:
            warns.append(f"{n_long} samples have a cell over Excel's 32,767 characters; Excel will cut them")
    name = _safe_name(target.name)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        progress(2, 3, f"writing {fmt.label}")
        written = fmt.write(splits, tmp)
        split_files = {k: f"{k}{fmt.suffix}" for k in splits} if fmt.suffix and fmt.name != "xlsx" else {}
        info = _dataset_info(fmt, name, split_files)
        files = sorted(str(Path(p).relative_to(tmp)) for p in written)
        if info:
            (tmp / "dataset_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n",
                                                   encoding="utf-8")
            files.append("dataset_info.json")
        (tmp / "README.md").write_text(_card(fmt, name, splits, source, files, info, warns), encoding="utf-8")
        files.append("README.md")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"train": len(splits.get("train", [])), "validation": len(splits.get("validation", [])),
            "files": [str(target / f) for f in files], "out": str(target), "format": format,
            "content_hash": source["content_hash"], "snapshot": source.get("snapshot"), "warnings": warns}


def formats() -> dict[str, str]:
    """Format name -> label, in menu order (from the exports registry)."""
    return {name: f.label for name, f in registry.FORMATS.items()}


def format_note(name: str) -> str:
    """How the trainer reads a format (shown beside the menu)."""
    return registry.get(name).note


def zip_folder(folder: str | Path) -> bytes:
    """An export folder as zip bytes, for a browser download (the page's "Download .zip")."""
    import io
    import zipfile

    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f"{folder.name}/{f.relative_to(folder).as_posix()}")
    return buf.getvalue()
