"""A tiny writer of legacy binary Excel files (BIFF8 in an OLE2 compound file), for test fixtures: text
and number cells only, every sheet's strings in one shared string table. No dependency (xlwt is gone from
our stack); read back by calamine and xlrd."""
from __future__ import annotations

import struct

SECTOR = 512
END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def _rec(kind: int, data: bytes) -> bytes:
    assert len(data) <= 8224, "record too long for this tiny writer"
    return struct.pack("<HH", kind, len(data)) + data


def _ustr16(text: str) -> bytes:   # XLUnicodeString: 16-bit count, flags (1 = UTF-16LE)
    return struct.pack("<HB", len(text), 1) + text.encode("utf-16-le")


def _ustr8(text: str) -> bytes:    # ShortXLUnicodeString: 8-bit count
    return struct.pack("<BB", len(text), 1) + text.encode("utf-16-le")


def _bof(dt: int) -> bytes:
    return _rec(0x0809, struct.pack("<HHHHII", 0x0600, dt, 0x0DBB, 0x07CC, 0, 6))


def biff8(sheets: dict[str, list[list]]) -> bytes:
    """The Workbook stream of ``{sheet name: rows of cells}`` (str, int/float or None)."""
    strings: list[str] = []
    index: dict[str, int] = {}
    bodies = []
    for rows in sheets.values():
        cells = b""
        ncols = max((len(r) for r in rows), default=0)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, (int, float)):
                    cells += _rec(0x0203, struct.pack("<HHHd", r, c, 15, float(v)))
                else:
                    if v not in index:
                        index[v] = len(strings)
                        strings.append(v)
                    cells += _rec(0x00FD, struct.pack("<HHHI", r, c, 15, index[v]))
        dims = _rec(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, ncols, 0))
        bodies.append(_bof(0x0010) + dims + cells + _rec(0x000A, b""))
    font = _rec(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + _ustr8("Arial"))
    xfs = b"".join(_rec(0x00E0, struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5 if i < 15 else 0x0001, 0x20, 0, 0, 0,
                                                  0, 0, 0x20C0)) for i in range(16))
    sst = _rec(0x00FC, struct.pack("<II", len(strings), len(strings)) + b"".join(_ustr16(s) for s in strings))
    head = _bof(0x0005) + _rec(0x0042, struct.pack("<H", 1200)) + font * 5 + xfs
    sheet_recs_len = sum(len(_rec(0x0085, b"\0" * 6 + _ustr8(n))) for n in sheets)
    offset = len(head) + sheet_recs_len + len(sst) + 4
    boundsheets = b""
    for name, body in zip(sheets, bodies):
        boundsheets += _rec(0x0085, struct.pack("<IBB", offset, 0, 0) + _ustr8(name))
        offset += len(body)
    return head + boundsheets + sst + _rec(0x000A, b"") + b"".join(bodies)


def ole2(stream: bytes, name: str = "Workbook") -> bytes:
    """One stream in an OLE2 compound file (padded to 4096 bytes: no mini stream needed)."""
    stream = stream + b"\0" * max(0, 4096 - len(stream))
    n = -(-len(stream) // SECTOR)
    dir_sector = n
    fat_sectors = 1
    while (n + 1 + fat_sectors) > fat_sectors * 128:
        fat_sectors += 1
    fat = [i + 1 for i in range(n - 1)] + [END] + [END] + [FATSECT] * fat_sectors
    fat += [FREE] * (fat_sectors * 128 - len(fat))

    def entry(ename: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = ename.encode("utf-16-le") + b"\0\0"
        return (raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), kind, 1)
                + struct.pack("<III", NOSTREAM, NOSTREAM, child) + b"\0" * 16 + struct.pack("<I", 0)
                + b"\0" * 16 + struct.pack("<IIi", start, size, 0))

    directory = (entry("Root Entry", 5, 1, END, 0) + entry(name, 2, NOSTREAM, 0, len(stream))
                 + b"\0" * 128 * 2)
    difat = list(range(n + 1, n + 1 + fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<IIIIIIIII", 0, fat_sectors, dir_sector, 0, 4096, END, 0, END, 0)
              + struct.pack("<109I", *difat))
    body = stream.ljust(n * SECTOR, b"\0") + directory + struct.pack(f"<{len(fat)}I", *fat)
    return header + body


def write_xls(path, sheets: dict[str, list[list]]) -> None:
    """Write ``{sheet: rows}`` as a legacy .xls file at ``path`` (any name: the content says what it is)."""
    with open(path, "wb") as f:
        f.write(ole2(biff8(sheets)))
