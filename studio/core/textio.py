"""Text encodings of imported files, decided in one place for exam banks, corpora and pair files.

A BOM decides first (UTF-8, UTF-16); then UTF-8; then GB18030 (a superset of GBK and GB2312, the usual
Chinese legacy encoding); only then a detector (charset-normalizer) for anything else.
"""
from __future__ import annotations

from studio.core.errors import InputError
from studio.core.i18n import _

SNIFF_BYTES = 1 << 20  # the head of a file that decides its encoding


def detect(head: bytes, name: str = "") -> str:
    """The encoding of a file from its first bytes (at most ``SNIFF_BYTES``; a cut character at the end
    is allowed for)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise InputError(_("a binary file, not text (it contains NUL bytes)"), file=name)
    # a head cut at SNIFF_BYTES may end inside a character: judge it up to its last line end
    sample = head if len(head) < SNIFF_BYTES else head[: head.rfind(b"\n") + 1 or len(head)]
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        raise InputError(_("cannot tell the text encoding (not UTF-8, GBK or another known one)"), file=name)
    return best.encoding


def decode(data: bytes, name: str = "") -> tuple[str, str]:
    """Bytes to text, and the encoding used."""
    encoding = detect(data[:SNIFF_BYTES], name)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as err:
        raise InputError(_("the text is not valid {encoding} at byte {offset}").format(encoding=encoding,
                                                                                      offset=err.start),
                         file=name) from None
