"""What is wrong with a file a reader library refused, in the user's words: the library's own text
("invalid Zip archive: Could not find EOCD", "PackageNotFoundError", "Bad CRC-32", a Rust panic of the
Excel reader) never reaches a page or the CLI. The file's bytes decide the words: not a workbook at all
(another format renamed), cut short (a zip whose end is missing), damaged inside (a part that cannot be
unpacked or parsed), protected by a password, or a zip of another kind (a Word document named .xlsx).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from studio.core.errors import InputError
from studio.core.i18n import N_, _

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # legacy Office files (and password-protected new ones)
_ENCRYPTED = "EncryptionInfo".encode("utf-16-le")  # the stream a password-protected .xlsx / .docx holds

NOT_VALID = N_("not a valid {suffix} file: {reason}")        # another format under this name
NOT_READABLE = N_("not a readable {suffix} file: {reason}")  # the right kind of file, that cannot be read
NOT_EXCEL = N_("it is not an Excel workbook (it may be damaged or another format)")
EXCEL_CUT = N_("the Excel workbook is cut short (an unfinished download or copy?): get the whole file again")
EXCEL_DAMAGED = N_("the Excel workbook is damaged (a part of it cannot be read): open it in Excel or WPS and save "
                   "it again")
XLS_DAMAGED = N_("the legacy Excel (.xls) workbook is damaged or cut short: open it in Excel or WPS and save it "
                 "as .xlsx")
PROTECTED = N_("it is protected by a password: open it, remove the password and save it again")
WORD_IN_EXCEL = N_("it is a Word document, not an Excel workbook: save it as .docx, or copy its table into Excel")
OTHER_ZIP = N_("it is a zip archive of other files, not an Excel workbook or a Word document")
NOT_WORD = N_("it is not a Word document (it may be damaged or another format; a legacy .doc must be saved as "
              ".docx first)")
WORD_CUT = N_("the Word document is cut short (an unfinished download or copy?): get the whole file again")
WORD_DAMAGED = N_("the Word document is damaged (a part of it cannot be read): open it in Word or WPS and save it "
                  "again")
EXCEL_IN_WORD = N_("it is an Excel workbook, not a Word document: save it as .xlsx")


def _head(path: Path, n: int = 1 << 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _zip_names(path: Path) -> list[str] | None:
    """The members of a readable zip, None when the zip itself cannot be opened."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _container(path: Path) -> str | None:
    """What the bytes say the file is, when that alone explains a failure: ``protected``, ``cut`` (a zip
    without its end), ``not`` (neither zip nor OLE2), ``word`` / ``excel`` / ``zip`` (a readable zip of
    that kind); None when it is the right kind of file and damaged inside."""
    head = _head(path)
    if head.startswith(OLE2_MAGIC):
        return "protected" if _ENCRYPTED in head or _ENCRYPTED in _head(path, 1 << 20) else "ole2"
    if not head.startswith(b"PK\x03\x04"):
        return "not"
    names = _zip_names(path)
    if names is None:
        return "cut"
    if any(n.startswith("xl/") for n in names):
        return "excel"
    if any(n.startswith("word/") for n in names):
        return "word"
    return "zip"


def _error(path: Path, name: str, reason: str, *, valid: bool = False) -> InputError:
    suffix = Path(name).suffix.lower() or path.suffix.lower()
    return InputError(_(NOT_VALID if valid else NOT_READABLE).format(suffix=suffix, reason=_(reason)), file=name)


def workbook_error(path: Path, name: str, kind: str) -> InputError:
    """Why an Excel reader refused ``path`` (``kind`` xlsx or xls, by its content), as one line."""
    found = _container(path)
    if kind == "xls" and found in ("not", "ole2"):
        return _error(path, name, XLS_DAMAGED)
    reason = {"protected": PROTECTED, "cut": EXCEL_CUT, "not": NOT_EXCEL, "word": WORD_IN_EXCEL,
              "zip": OTHER_ZIP, "ole2": XLS_DAMAGED}.get(found, EXCEL_DAMAGED)
    return _error(path, name, reason, valid=found == "not")


def word_error(path: Path, name: str) -> InputError:
    """Why the Word reader refused ``path``, as one line."""
    found = _container(path)
    reason = {"protected": PROTECTED, "cut": WORD_CUT, "not": NOT_WORD, "ole2": NOT_WORD, "excel": EXCEL_IN_WORD,
              "zip": OTHER_ZIP}.get(found, WORD_DAMAGED)
    return _error(path, name, reason)


def is_panic(err: BaseException) -> bool:
    """A Rust panic of a reader (``pyo3_runtime.PanicException``, a BaseException): a broken file, not an
    interrupt."""
    return type(err).__name__ == "PanicException"
