"""What the fast reader's steps share: the namespaces and tags of a workbook's XML, the
reader's exceptions, and feeding a part to a parser in chunks."""

from __future__ import annotations

from collections.abc import Iterator

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_NAMESPACES = (
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)

ROW = f"{{{MAIN_NS}}}row"
V = f"{{{MAIN_NS}}}v"
F = f"{{{MAIN_NS}}}f"
IS = f"{{{MAIN_NS}}}is"
SI = f"{{{MAIN_NS}}}si"
T = f"{{{MAIN_NS}}}t"
R = f"{{{MAIN_NS}}}r"
RPR = f"{{{MAIN_NS}}}rPr"
KNOWN = {T: "t", R: "r", f"{{{MAIN_NS}}}rPh": "rPh", f"{{{MAIN_NS}}}phoneticPr": "phoneticPr"}
MERGE_CELLS = f"{{{MAIN_NS}}}mergeCells"
HYPERLINKS = f"{{{MAIN_NS}}}hyperlinks"
SHEET_DATA = f"{{{MAIN_NS}}}sheetData"
RID = f"{{{REL_NS}}}id"
COL = f"{{{MAIN_NS}}}col"
# The worksheet elements openpyxl's WorkSheetParser clears once it has read them (so a row
# nested in one sees the same tree as there): the same are cleared here.
DROP = frozenset(f"{{{MAIN_NS}}}{name}" for name in (
    "sheetProtection", "extLst", "conditionalFormatting", "legacyDrawing", "rowBreaks",
    "colBreaks", "customSheetViews", "printOptions", "pageMargins", "pageSetup",
    "headerFooter", "autoFilter", "dataValidations", "sheetPr", "sheetViews",
    "sheetFormatPr", "scenarios", "tableParts",
))

FEED = 1 << 20  # bytes fed to the parser at a time


class UnsupportedWorkbook(ValueError):
    """A workbook this reader does not recognise; `read_auto` falls back to openpyxl."""


class StrictOOXML(ValueError):
    """A Strict Open XML workbook (ISO/IEC 29500 strict namespaces), e.g. saved by Excel as
    "Strict Open XML Spreadsheet". Neither reader reads it: openpyxl finds no sheet in it
    (its result would be reported as a form without its identity sheet), so this error is
    raised instead, and `check_bytes` reports it as an unreadable file, with this message."""


class NotPlain(Exception):
    """The part is not written the way the byte scan reads: iterparse reads it."""


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def chunks(raw: bytes) -> Iterator[bytes]:
    if len(raw) <= FEED:
        yield raw
        return
    view = memoryview(raw)
    for at in range(0, len(raw), FEED):
        yield bytes(view[at: at + FEED])
