"""The byte scan's grammar: worksheets and shared strings written the usual way.

Excel, WPS, LibreOffice and xlsxwriter write a worksheet as: an XML declaration, the
<worksheet> start tag with the namespace declarations, a few elements, <sheetData> holding
<row>s of <c>s (each with <v>, <f> or <is><t>), then the elements after the data. Most of
the bytes are outside the cells (data validations, conditional formats, page setup) and are
the same in every return of one template; most cells are empty and styled. So:

* the parts before and after the cell data ("frames", made into small documents of their
  own) are parsed by ElementTree exactly as the whole worksheet would be (merged ranges,
  hyperlinks and columns are read from them by the same code) and remembered by their
  bytes: the next return of the template costs a dictionary look-up (scan.py);
* the cell data is decoded as UTF-8 and tokenised by one compiled regular expression that
  matches only well-formed rows and cells (every attribute, reference and text checked by
  the grammar; names, namespaces, characters and duplicate attributes checked besides),
  and each token is interpreted as `parse.parse_worksheet` interprets the element.

Together the checks accept a worksheet only where the whole document is well-formed XML
and iterparse would see the same elements: a frame that is broken or holds rows, comments,
CDATA or processing instructions anywhere, a DOCTYPE, an encoding other than UTF-8, a
namespace prefix or declaration inside the cell data, a prefix that is not declared, two
prefixes for one namespace, characters XML does not allow, an unknown entity, a character
reference to a character XML does not allow, text between cells, children of a cell other
than <v>, <f> and an <is> holding at most one <t>, rich text, a cell outside a row: any of
these (`NotPlain`), and any exception at all, and the part is read by iterparse instead,
from scratch, which gives today's result or raises today's error. The shared strings are
scanned alike (scan_strings.py); a string that is not a plain <si><t>...</t></si> is parsed
on its own (inside the part's root start tag, so with the same namespaces) by ElementTree.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nianbao.read.cache import Memo
from nianbao.read.ooxml import NotPlain

REMEMBERED_CHARS = 4096  # longer runs of empty cells, attribute lists, rich strings: not kept

_S = "[ \t\r\n]"
_BAD = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"  # characters XML 1.0 does not allow
_XREF = "&(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);"
_XTEXT = f"[^<&\\]{_BAD}]*+(?:(?:{_XREF}|\\](?!\\]>))[^<&\\]{_BAD}]*+)*+"
_XVALUE = (f'"[^"<&{_BAD}]*+(?:{_XREF}[^"<&{_BAD}]*+)*+"'
           f"|'[^'<&{_BAD}]*+(?:{_XREF}[^'<&{_BAD}]*+)*+'")
_XNAME = "[A-Za-z_][A-Za-z0-9_.-]*+(?::[A-Za-z_][A-Za-z0-9_.-]*+)?+"
XATTRS = f"(?:{_S}++{_XNAME}{_S}*+={_S}*+(?:{_XVALUE}))*+"


def _children(group: Callable[[str], str]) -> str:
    """<v>, <f> and <is> (holding at most one <t>) as the scan accepts them in a cell."""
    v = f"<{group('v')}{group(XATTRS)}{_S}*+(?:/>|>{group(_XTEXT)}</v{_S}*+>)"
    f = f"<{group('f')}{group(XATTRS)}{_S}*+(?:/>|>{group(_XTEXT)}</f{_S}*+>)"
    inline = (f"<{group('is')}{group(XATTRS)}{_S}*+(?:/>|>{_S}*+(?:<t{group(XATTRS)}{_S}*+"
              f"(?:/>|>{group(_XTEXT)}</t{_S}*+>){_S}*+)?</is{_S}*+>)")
    return f"{_S}*+(?:{v}|{f}|{inline})"


# one child: 1 "v", 2 its attributes, 3 its text; 4 "f", 5, 6; 7 "is", 8, 9 <t>'s attributes,
# 10 <t>'s text
CHILD = re.compile(_children(lambda x: f"({x})"))
_PLAIN = f'[^"&<\t\n\r{_BAD}]+'
_CANONICAL = f'(?: r="({_PLAIN})")?(?: s="({_PLAIN})")?(?: t="({_PLAIN})")?'
_EMPTY_CELL = '<c r="{0}"(?: s="{0}")?/>'  # a plain empty cell, {0} the value pattern
# one token of the cell data. A cell: 1 r, 2 s, 3 t (attributes written r, s, t, plainly) or
# 4 the attributes otherwise; 5 when it has no children, the plain empty cells right after
# it (most cells of a form are empty, styled: a run is one token), 6 the text of a plain <v>
# (no attributes, no references) when it is the only child, 7 the children otherwise (a
# cell with neither 6 nor 7 has no children or an empty <v>: the reading is the same).
# 8 a row's start or end tag; 9 anything else: all the rest (not plain). Each attempt is
# linear and a failed one ends the scan (white space at the end is taken off first: a match
# failing there would be tried again at each of its characters), so the scan is linear.
TOKEN = re.compile(
    f"{_S}*+(?:"
    f"<c(?:{_CANONICAL}(?={_S}*+/?>)|({XATTRS}))"
    f"{_S}*+(?:/>((?:{_EMPTY_CELL.format(_PLAIN)})*+)|>(?:<v>([^<&\\]{_BAD}]++)</v>"
    f"|((?:{_children(lambda x: f'(?:{x})')})*+{_S}*+))</c{_S}*+>)"
    f"|(<row{XATTRS}{_S}*+/?>|</row{_S}*+>)"
    f"|([\\s\\S]+))")
# one token of the shared strings: 1 <t>'s attributes, 2 its text (a plain string); 3 any
# other <si> (parsed by ElementTree); 4 anything else: all the rest (not plain)
SST_TOKEN = re.compile(
    f"{_S}*+(?:<si{_S}*+>{_S}*+<t({XATTRS}){_S}*+(?:/>|>({_XTEXT})</t{_S}*+>){_S}*+</si{_S}*+>"
    f"|(<si{XATTRS}{_S}*+/>|<si(?:{_S}[^>]*+)?>.*?</si{_S}*+>)"
    f"|([\\s\\S]+))", re.DOTALL)
EMPTY_CELLS = re.compile(_EMPTY_CELL.format(f"({_PLAIN})"))  # (r, s) of each of a run
_ATTR = re.compile(f'({_XNAME}){_S}*+={_S}*+(?:"([^"]*)"|\'([^\']*)\')')
_PROLOG = re.compile(
    rb'(?:\xef\xbb\xbf)?(<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["\'])1\.0\2'
    rb'(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["\'])[Uu][Tt][Ff]-8\3)?'
    rb'(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["\'])(?:yes|no)\4)?[ \t\r\n]*\?>)?'
    rb"[ \t\r\n]*(<(worksheet|sst)(" + XATTRS.encode() + rb")[ \t\r\n]*>)")
SHEET_DATA_TAG = re.compile(rb"<sheetData(" + XATTRS.encode() + rb")[ \t\r\n]*(/?)>")
SST_END = re.compile(rb"</sst[ \t\r\n]*>[ \t\r\n]*")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_REFERENCE = re.compile("&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")


def _reference(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    if not (0x20 <= code <= 0xD7FF or code in (0x9, 0xA, 0xD) or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF):
        raise NotPlain("a reference to a character XML does not allow")
    return chr(code)


def text_value(text: str) -> str:
    """Character data as the parser gives it: line ends made "\\n", then references."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _references(text) if "&" in text else text


def attribute_value(text: str) -> str:
    """An attribute value as the parser gives it: line ends, tabs and newlines made spaces,
    then references (a "&#10;" stays a newline)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\n", " ").replace("\t", " ")
    return _references(text) if "&" in text else text


def _references(text: str) -> str:
    """The references of text the grammar accepted replaced. Without character references,
    the five entities one after the other, "&amp;" last: no replacement can make a new
    reference ("&amp;lt;" holds no "&lt;"), so this is what the parser gives."""
    if "&#" in text:
        return _REFERENCE.sub(_reference, text)
    return (text.replace("&quot;", '"').replace("&gt;", ">").replace("&lt;", "<")
            .replace("&apos;", "'").replace("&amp;", "&"))


def attributes(text: str, prefixes: frozenset[str], memo: Memo) -> dict[str, str]:
    """The attributes of a start tag the grammar accepted, by qualified name (unprefixed
    names are what ElementTree's attrib holds under the same key); raises NotPlain for a
    namespace declaration, a prefix not declared on the root or sheetData, a duplicate.
    The dictionary returned is shared (remembered in `memo`): not to be changed."""
    found = memo.get(text)
    if found is None:
        attrib: dict[str, str] = {}
        used = []
        for name, double, single in _ATTR.findall(text):
            if name in attrib or name == "xmlns" or name.startswith("xmlns:"):
                raise NotPlain("a duplicate attribute or a namespace declaration")
            if ":" in name:
                used.append(name.partition(":")[0])
            value = double or single
            if "&" in value or "\t" in value or "\n" in value or "\r" in value:
                value = attribute_value(value)
            attrib[name] = value
        found = (attrib, tuple(used))
        if len(text) <= REMEMBERED_CHARS:
            memo.keep(text, found)
    for prefix in found[1]:
        if prefix not in prefixes:
            raise NotPlain(f"the prefix {prefix} is not declared")
    return found[0]


def namespaces(attrs: bytes) -> dict[str, str]:
    """The namespace declarations among a start tag's attributes: prefix ("" for the
    default) -> URI; raises NotPlain for a URI that is not written plainly."""
    found = {}
    for name, double, single in _ATTR.findall(attrs.decode("utf-8")):
        if name == "xmlns" or name.startswith("xmlns:"):
            uri = double or single
            if "&" in uri or "\t" in uri or "\n" in uri or "\r" in uri:
                raise NotPlain("a namespace URI with references or white space")
            found[name[6:]] = uri
    return found


def prefixes(namespaces: dict[str, str]) -> frozenset[str]:
    """The attribute prefixes usable in the scanned part; NotPlain when two prefixes name
    one namespace (two attributes could then be the same one, which XML forbids)."""
    uris = [uri for prefix, uri in namespaces.items() if prefix]
    if len(set(uris)) != len(uris):
        raise NotPlain("two prefixes for one namespace")
    return frozenset(prefix for prefix in namespaces if prefix) | {"xml"}


def prolog(raw: bytes, root: bytes) -> re.Match[bytes]:
    """The XML declaration (if any: version 1.0, UTF-8) and the root start tag, which must
    be `root`, unprefixed, with nothing else before it (no DOCTYPE, comment or processing
    instruction: ElementTree would apply a DTD's attribute defaults, for one)."""
    found = _PROLOG.match(raw)
    if found is None or found.group(6) != root:
        raise NotPlain("not the usual XML declaration and root")
    return found
