"""The record of one pairs import (file, format, counts, rejected rows)."""
from __future__ import annotations

import json
from typing import Any

from store import db


def record_import(dataset_id: int, source_file: str, sha256: str | None, parsed: dict[str, Any], imported: int,
                  *, cur) -> int:
    """Insert the ``imports`` row of a pairs import and return its id."""
    return db.scalar("""INSERT INTO imports (dataset_id, kind, source_file, source_sha256, options, rows_total,
                                             rows_imported, rows_rejected, errors)
                        VALUES (?, 'pairs', ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                     [dataset_id, source_file, sha256,
                      json.dumps({"format": parsed["format"], "container": parsed["container"]}),
                      parsed["rows"], imported, len(parsed["errors"]),
                      json.dumps(parsed["errors"][:1000], ensure_ascii=False)], cur=cur)
