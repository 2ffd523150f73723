"""The byte scan of a shared strings part (see grammar.py): the strings looked up by their
text, or tokenised; a string that is not a plain <si><t>...</t></si> parsed on its own."""

from __future__ import annotations

from xml.etree.ElementTree import fromstring

from nianbao.read.cache import ReadCache
from nianbao.read.cells import rich_text
from nianbao.read.grammar import (
    REMEMBERED_CHARS,
    SST_END,
    SST_TOKEN,
    attributes,
    namespaces,
    prefixes,
    prolog,
    text_value,
)
from nianbao.read.ooxml import MAIN_NS, SI, NotPlain, T
from nianbao.read.package import cached


def scan_strings(raw: bytes, cache: ReadCache) -> list[str]:
    """The shared strings by the byte scan; raises NotPlain or any error."""
    found = prolog(raw, b"sst")
    head = raw[:found.end()]
    declared = cached(cache.parts, ("sst", head), lambda: _strings_head(head, found.group(7)))
    end = raw.rfind(b"</sst")
    if end < found.end() or not SST_END.fullmatch(raw, end):
        raise NotPlain("not the usual end")
    body = raw[found.end():end].decode("utf-8").rstrip(" \t\r\n")
    root = found.group(5)
    known = _known_strings(body, declared, root, cache)
    if known is not None:
        return known
    strings: list[str] = []
    append = strings.append
    others: list[tuple[int, str]] = []  # (index, <si>) of the strings not plain
    for attrs, text, other, wrong in SST_TOKEN.findall(body):
        if wrong:
            raise NotPlain("not a string")
        if other:
            rich = cache.rich.find((root, other))
            if rich is None:
                others.append((len(strings), other))
            text = rich or ""
        else:
            if attrs:
                attributes(attrs, declared, cache.attributes)
            if "&" in text or "\r" in text:
                text = text_value(text)
        append(text.replace("x005F_", "") if "x005F_" in text else text)
    if others:
        for (index, xml), text in zip(others, _other_strings(root, others), strict=True):
            if len(xml) <= REMEMBERED_CHARS:
                cache.rich.keep((root, xml), text)
            strings[index] = text.replace("x005F_", "") if "x005F_" in text else text
    return strings


def _known_strings(body: str, declared: frozenset[str], root: bytes, cache: ReadCache
                   ) -> list[str] | None:
    """The strings of `body` looked up by their text (all at once: most are the template's
    labels, checked by the grammar once and then remembered, rich ones once parsed, see
    the rich memo). None when one is new and not plain: the token scan reads all."""
    pieces = body.split("</si>")
    if pieces.pop():
        return None  # something after the last string
    known = cache.known_strings.section(root)
    strings = list(map(known.get, pieces))
    if None not in strings:
        cache.known_strings.hits += 1  # (counted per part: every string known)
        return strings  # type: ignore[return-value]
    cache.known_strings.misses += 1
    for i, piece in enumerate(pieces):
        if strings[i] is not None:
            continue
        token = SST_TOKEN.fullmatch(piece + "</si>")
        if token is None or token.group(4) is not None:
            return None
        attrs, text, other = token.group(1), token.group(2) or "", token.group(3)
        if other is not None:
            text = cache.rich.get((root, other))
            if text is None:
                return None
        else:
            if attrs:
                attributes(attrs, declared, cache.attributes)
            if "&" in text or "\r" in text:
                text = text_value(text)
        if "x005F_" in text:
            text = text.replace("x005F_", "")
        if len(piece) <= REMEMBERED_CHARS:
            known.keep(piece, text)
        strings[i] = text
    return strings  # type: ignore[return-value]


def _strings_head(head: bytes, attrs: bytes) -> frozenset[str]:
    """The attribute prefixes declared on the root of a shared strings part whose prolog
    and root start tag are `head`: well-formed (parsed), the default namespace the main."""
    fromstring(head + b"</sst>")
    declared = namespaces(attrs)
    if declared.get("") != MAIN_NS:
        raise NotPlain("the strings are not in the main namespace")
    return prefixes(declared)


def _other_strings(root: bytes, others: list[tuple[int, str]]) -> list[str]:
    """The strings that are not a plain <si><t>...</t></si>, parsed in one document inside
    the root start tag (so with the same namespaces), each read as `parse_strings` reads
    it (without the "x005F_" removal)."""
    xml = "".join(other for _, other in others)
    wrapper = fromstring(root + xml.encode("utf-8") + b"</sst>")
    if len(wrapper) != len(others):
        raise NotPlain("not one string each")
    texts = []
    for el in wrapper:
        if el.tag != SI or any(sub.tag == SI for sub in el.iter() if sub is not el):
            raise NotPlain("not a string, or a string inside a string")
        if len(el) == 1 and not el.attrib and el[0].tag == T and not len(el[0]):
            texts.append(el[0].text or "")
        else:
            texts.append(rich_text(el))
    return texts
