"""Feedback workbooks without rendering: a package prepared once, patched per submission.

Rendering a feedback workbook with xlsxwriter costs ~20 ms, mostly spent writing the same
labels, formats and rules again. `FeedbackWriter` renders reference workbooks once per
process (nothing filled in and unmarked; everything filled in and marked), learns from them
what xlsxwriter writes for each input, formula and _meta cell, the comment parts and the
问题清单 sheet, and then writes a feedback workbook by filling those cells in the prepared
package. The result is the full render's workbook cell for cell (same values, formulas,
cached results, formats, comments and links); only the numbering of shared strings and
formats differs. Preparation checks itself against full renders and disables the writer on
any difference; a feedback the writer cannot write exactly is rendered in full instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nianbao.cells import a1
from nianbao.collect.distribute import issue_options
from nianbao.collect.feedback_xml import (
    CELL,
    MAX_TEXT,
    PROBE_TEXTS,
    CannotPatch,
    Slot,
    Strings,
    cell_start,
    cells_of,
    col_index,
    comment_places,
    deflated_part,
    difference,
    first_match,
    formula_cell,
    header_xml,
    hyperlink_element,
    issue_row,
    merge_text,
    probe_issues,
    probe_values,
    read_zip,
    rowcol,
    sst_elements,
    string_cell,
    t_element,
    value_cell,
    workbook_sheet_names,
    zip_members,
)
from nianbao.collect.issue_list import IssueList, issues_sheet
from nianbao.render.workbook import RenderOptions, _Writer, meta_values, render
from nianbao.spec.layout import META_SHEET, Layout
from nianbao.validate.evaluate import sheet_values

MAX_ISSUES = 5_000    # a longer 问题清单 is rare enough to render in full
_S_VALUE = re.compile(r'<c r="[A-Z]+\d+"(?: s="\d+")? t="s"><v>(\d+)</v></c>')
_FORMULA = re.compile(r"<f(?: [^>]*)?>.*?</f>", re.S)
_HYPERLINKS = re.compile(r"<hyperlinks>.*?</hyperlinks>", re.S)
_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')
_COMMENT = re.compile(r'<comment ref="([A-Z]+\d+)"[^>]*>.*?</comment>', re.S)
_COMMENT_T = re.compile(r"<t(?: [^>]*)?>.*?</t>", re.S)
_SHAPE = re.compile(r'<v:shape id="_x0000_s\d+".*?</v:shape>', re.S)
_SHAPE_AT = re.compile(r"<x:Row>(\d+)</x:Row><x:Column>(\d+)</x:Column>")
_TARGET = re.compile(r'Target="\.\./(drawings/vmlDrawing|comments)(\d+)\.(vml|xml)"')
_PROBE_MARK = "NB-MARK-{}"



@dataclass
class _SheetTemplate:
    """A worksheet's XML as static text and dynamic cells, in document order."""

    name: str
    part: str
    pieces: list[str | Slot]
    tail: str                # after </sheetData>, without comments
    tail_comments: str = ""  # the same with the comments' <legacyDrawing/>
    rels: str = ""           # the sheet's relationships when it has comments (k -> {k})
    fixed: Any = None        # the deflated part of a sheet without slots


@dataclass
class _Comments:
    """What a sheet's comments look like: per cell the <comment> around its text and the
    VML shape, learned from the reference with every place marked."""

    head: str
    tail: str
    vml_head: str
    vml_tail: str
    comment: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    shape: dict[tuple[int, int], tuple[str, str, str]] = field(default_factory=dict)


@dataclass
class _Issues:
    """The 问题清单 sheet around its finding rows."""

    head: str     # up to <sheetData>, with the dimension as {dim}
    rows: list[str | Slot]  # title, summary (a slot), header
    tail: str     # after </sheetData>, hyperlinks as {links}
    label: str    # the xf of the finding cells
    quoted: str   # the same with a quote prefix, for formula-like text (nianbao.untrusted)


class FeedbackWriter:
    """Feedback workbooks of one layout, key and office, patched into a prepared package."""

    def __init__(self, layout: Layout, key: bytes, office: str) -> None:
        self.layout, self.key, self.office = layout, key, office
        self.problem: str | None = None
        try:
            self._prepare()
            self._self_check()
        except Exception as exc:  # any surprise disables the patcher
            self.problem = f"{type(exc).__name__}: {exc}"

    @property
    def ok(self) -> bool:
        return self.problem is None

    def workbook(self, opts: RenderOptions, issues: IssueList) -> bytes | None:
        """The feedback workbook for `opts` (from issue_options) and its 问题清单, or None
        when it must be rendered in full."""
        if not self.ok:
            return None
        try:
            return self._package(opts, issues)
        except Exception:  # CannotPatch, or whatever render may raise too
            return None

    # --- preparation -------------------------------------------------------------------

    def _reference(self, values: Mapping[str, Any], marks: Mapping[str, str],
                   issues: IssueList, identity: Mapping[str, Any] | None = None,
                   warned: frozenset[str] = frozenset()) -> tuple[RenderOptions, bytes]:
        """A full render whose formats all have fixed numbers: every input style, marked or
        not, is numbered first, so that all references (and the patched workbooks, which
        use the first reference's styles) share one styles part."""
        styles = self.input_styles

        def before(wb: Any, fmt: Callable[[str], Any]) -> None:
            issues_sheet(wb, fmt, issues)
            for style in styles:
                fmt(style)._get_xf_index()

        opts = issue_options(self.layout, identity or self.probe_identity, self.key,
                             self.office, values=dict(values), marks=dict(marks),
                             warned=warned, before=before)
        return opts, render(self.layout, opts)

    def _prepare(self) -> None:
        layout = self.layout
        # the identity the office issues (locked); other cover fields are filled in
        self.cover = {f.id for f in layout.form.cover.fields
                      if f.id in ("unit.code", "unit.name", "year")}
        self.probe_identity = {"unit.code": "NB-CODE", "unit.name": "NB-NAME", "year": 2000}
        styles: list[str] = []
        self.probe_headers = (header_xml(self.probe_identity, True),
                              header_xml(self.probe_identity, False))
        for marked in (0, 1, 2):  # not marked, marked, marked as a warning
            opts = RenderOptions(identity=self.probe_identity, lock_identity=True,
                                 marks=dict.fromkeys(layout.inputs, "x") if marked else {},
                                 warned=frozenset(layout.inputs) if marked == 2
                                 else frozenset())
            writer = _Writer(layout, opts, None)  # type: ignore[arg-type]
            styles += [writer.input_style(cell, fid) for fid, cell in layout.inputs.items()]
        self.input_styles = list(dict.fromkeys(styles))
        self.comment_at = comment_places(layout)
        empty_opts, empty = self._reference({}, {}, probe_issues(layout, 0))
        all_marks = {fid: _PROBE_MARK.format(i) for i, fid in enumerate(self.comment_at)}
        full_opts, full = self._reference(probe_values(layout, 0), all_marks,
                                          probe_issues(layout, 1))
        warned_opts, warned = self._reference(probe_values(layout, 0), all_marks,
                                              probe_issues(layout, 1),
                                              warned=frozenset(layout.inputs))
        self.references = [(empty_opts, probe_issues(layout, 0), empty),
                           (full_opts, probe_issues(layout, 1), full),
                           (warned_opts, probe_issues(layout, 1), warned)]
        a, b = dict(read_zip(empty)), dict(read_zip(full))
        c = dict(read_zip(warned))
        self.order = [name for name, _ in read_zip(full)]
        self.meta_keys = list(meta_values(layout, empty_opts))
        sheet_names = workbook_sheet_names(a["xl/workbook.xml"].decode())
        self.sheet_parts = {name: f"xl/worksheets/sheet{i}.xml"
                            for i, name in enumerate(sheet_names, start=1)}
        strings = sst_elements(a["xl/sharedStrings.xml"].decode())
        self.strings: dict[str, int] = {}
        self.sst_static: list[str] = []
        self.count_static = 0
        self.issues = self._learn_issues(a[self.sheet_parts[sheet_names[0]]].decode(),
                                         strings)
        self.sheets = [self._learn_sheet(name, a[self.sheet_parts[name]].decode(),
                                         b[self.sheet_parts[name]].decode(),
                                         c[self.sheet_parts[name]].decode(), strings)
                       for name in sheet_names[1:]]
        sst = a["xl/sharedStrings.xml"].decode()
        self.sst_head = sst[:sst.index("<si>")] if "<si>" in sst else sst[:-len("</sst>")]
        self.sst_body = "".join(self.sst_static)
        self.comments = self._learn_comments(a, b)
        self.content_types = a["[Content_Types].xml"].decode()
        self.vml_default = first_match(r'<Default Extension="vml"[^>]*/>',
                                  b["[Content_Types].xml"].decode())
        self.comment_override = first_match(r'<Override PartName="/xl/comments1\.xml"[^>]*/>',
                                       b["[Content_Types].xml"].decode())
        dynamic = {"[Content_Types].xml", "xl/sharedStrings.xml", *self.sheet_parts.values()}
        # parts that do not change with values; a workbook with comments has its own
        # variant of some (xlsxwriter adds the comments' font to the styles)
        self.static = {name: deflated_part(data) for name, data in a.items()
                       if name not in dynamic}
        self.static_comments = {name: deflated_part(b[name]) if b[name] != data else
                                self.static[name] for name, data in a.items()
                                if name not in dynamic}
        for name in b:  # parts of comments, learned above, are never copied
            if name not in a and not re.match(
                    r"xl/(comments\d+\.xml|drawings/vmlDrawing\d+\.vml|worksheets/_rels/)",
                    name):
                raise CannotPatch(f"unexpected part {name} in the marked reference")

    def _learn_issues(self, xml: str, strings: list[str]) -> _Issues:
        """Split the reference 问题清单 (one finding) into head, fixed rows and tail."""
        start, end = xml.index("<sheetData>") + len("<sheetData>"), xml.index("</sheetData>")
        head = _DIMENSION.sub('<dimension ref="{dim}"/>', xml[:start].replace("{", "{{")
                              .replace("}", "}}"), count=1)
        body = xml[start:end]
        first = body.index('<row r="5"')
        fixed = self._pieces(body[:first], strings, {(1, 0): ("text", "summary")})
        label = CELL.search(body[first:])
        if not label or label.group(3) is None:
            raise CannotPatch("no finding row in the reference 问题清单")
        found = next((m for m in CELL.finditer(body[first:]) if m.group(1, 2) == ("F", "5")),
                     None)  # the probe's "found" is formula-like: quoted
        if not found or found.group(3) is None or found.group(3) == label.group(3):
            raise CannotPatch("no quoted cell in the reference 问题清单")
        tail = xml[end:].replace("{", "{{").replace("}", "}}")
        tail = _HYPERLINKS.sub("{links}", tail, count=1)
        if "{links}" not in tail:
            raise CannotPatch("no hyperlinks in the reference 问题清单")
        return _Issues(head, fixed, tail, label.group(3), found.group(3))

    def _learn_sheet(self, name: str, xml_a: str, xml_b: str, xml_c: str, strings: list[str]
                     ) -> _SheetTemplate:
        """A template sheet as static text and slots for its inputs, formulas and _meta."""
        start, end = xml_a.index("<sheetData>") + len("<sheetData>"), xml_a.index("</sheetData>")
        slots: dict[tuple[int, int], Slot] = {}
        marked, warned = cells_of(xml_b), cells_of(xml_c)
        for fid, cell in self.layout.inputs.items():
            a = cell.area
            if a.sheet != name:
                continue
            for r in range(a.row, a.last_row + 1):
                for c in range(a.col, a.last_col + 1):
                    slots[(r, c)] = ("input" if (r, c) == (a.row, a.col) else "blank",
                                     fid, a1(r, c), marked[(r, c)][0], warned[(r, c)][0])
        for i, cell in enumerate(self.layout.formulas):
            a = cell.area
            if a.sheet == name:
                slots[(a.row, a.col)] = ("formula", i, a1(a.row, a.col), cell.array)
        if name == META_SHEET:
            for row, key in enumerate(self.meta_keys):
                slots[(row, 1)] = ("text", key)
        pieces = self._pieces(xml_a[start:end], strings, slots)
        head = xml_a[:start]
        tail_a, tail_b = xml_a[end:], xml_b[xml_b.index("</sheetData>"):]
        return _SheetTemplate(name, self.sheet_parts[name], merge_text([head, *pieces]), tail_a,
                              tail_b if tail_b != tail_a else "")

    def _pieces(self, body: str, strings: list[str], slots: Mapping[tuple[int, int], Slot]
                ) -> list[str | Slot]:
        """Cut sheetData into static text and slots; a slot learns its cell's format and
        formula from the reference. Static shared strings are renumbered into the
        prepared string table (dynamic strings of the references are not kept)."""
        out: list[str | Slot] = []
        at = 0
        for m in CELL.finditer(body):
            col, row, xf = m.group(1), int(m.group(2)) - 1, m.group(3)
            key = (row, col_index(col))
            static = body[at:m.start()]
            slot = slots.get(key)
            if slot is None:
                cell = m.group(0)
                sm = _S_VALUE.fullmatch(cell)
                if sm:
                    index = self._static_string(strings[int(sm.group(1))])
                    cell = cell[:cell.rindex("<v>")] + f"<v>{index}</v></c>"
                    self.count_static += 1
                out.append(static + cell)
            else:
                out.append(static)
                if slot[0] == "formula":
                    f = _FORMULA.search(m.group(0))
                    if not f:
                        raise CannotPatch(f"no formula in {m.group(0)[:80]}")
                    out.append((*slot, xf, f.group(0)))
                elif slot[0] in ("input", "blank"):
                    out.append((*slot[:3], xf, slot[3], slot[4]))
                else:
                    out.append((*slot, a1(*key), xf))
            at = m.end()
        out.append(body[at:])
        missing = set(slots) - {(int(m.group(2)) - 1, col_index(m.group(1)))
                                for m in CELL.finditer(body)}
        if missing:
            raise CannotPatch(f"cells without an element in the reference: {sorted(missing)}")
        return merge_text(out)

    def _static_string(self, si: str) -> int:
        """The prepared index of a static string, given as its <si> element."""
        if si not in self.strings:
            self.strings[si] = len(self.sst_static)
            self.sst_static.append(si)
        return self.strings[si]

    def _learn_comments(self, a: dict[str, bytes], b: dict[str, bytes]
                        ) -> dict[str, _Comments]:
        """Per sheet with places, its comment and VML shape per marked cell."""
        out = {}
        for sheet in self.sheets:
            rels_name = sheet.part.replace("worksheets/", "worksheets/_rels/") + ".rels"
            if rels_name in a:
                raise CannotPatch(f"{sheet.name} has relationships without comments")
            if rels_name not in b:
                continue
            rels = b[rels_name].decode()
            numbers = {m.group(2) for m in _TARGET.finditer(rels)}
            if len(numbers) != 1:
                raise CannotPatch(f"unexpected relationships of {sheet.name}")
            k = numbers.pop()
            sheet.rels = _TARGET.sub(lambda m: f'Target="../{m.group(1)}{{k}}.{m.group(3)}"',
                                     rels.replace("{", "{{").replace("}", "}}"))
            xml = b[f"xl/comments{k}.xml"].decode()
            vml = b[f"xl/drawings/vmlDrawing{k}.vml"].decode()
            found = list(_COMMENT.finditer(xml))
            shapes = list(_SHAPE.finditer(vml))
            c = _Comments(xml[:found[0].start()], xml[found[-1].end():],
                          re.sub(r'(<o:idmap v:ext="edit" data=")\d+"', r'\1{data}"',
                                 vml[:shapes[0].start()].replace("{", "{{")
                                 .replace("}", "}}")),
                          vml[shapes[-1].end():])
            for m in found:
                t = _COMMENT_T.search(m.group(0))
                assert t is not None
                key = rowcol(m.group(1))
                c.comment[key] = (m.group(0)[:t.start()], m.group(0)[t.end():])
            for m in shapes:
                shape = m.group(0)
                at = _SHAPE_AT.search(shape)
                assert at is not None
                first = shape.index('"_x0000_s') + len('"_x0000_s')
                id_end = shape.index('"', first)
                z = shape.index("z-index:") + len("z-index:")
                z_end = shape.index(";", z)
                c.shape[(int(at.group(1)), int(at.group(2)))] = (
                    shape[:first], shape[id_end:z], shape[z_end:])
            out[sheet.name] = c
        return out

    def _self_check(self) -> None:
        """Write the references (and a third, mixed one) with the patcher and compare them
        with their full renders, strings resolved: any difference disables the writer."""
        values = probe_values(self.layout, 1)
        places = list(self.comment_at)
        marks = {fid: text for fid, text in zip(places[::3], PROBE_TEXTS * len(places),
                                                strict=False)}
        issues = probe_issues(self.layout, 2)
        opts, data = self._reference(values, marks, issues, {
            "unit.code": "330599-003 <&>", "unit.name": "单位 \"A&B\" ", "year": 2022},
            warned=frozenset(list(marks)[::2]))
        for ref_opts, ref_issues, ref in [*self.references, (opts, issues, data)]:
            mine = self._package(ref_opts, ref_issues)
            diff = difference(mine, ref)
            if diff:
                raise CannotPatch(f"patched reference differs from its render: {diff}")

    # --- one feedback ------------------------------------------------------------------

    def _package(self, opts: RenderOptions, issues: IssueList) -> bytes:
        """Fill in the prepared parts; raises CannotPatch for what it cannot do exactly."""
        layout = self.layout
        if opts.password or opts.lock_inputs or not opts.lock_identity or opts.after:
            raise CannotPatch("options the writer was not prepared for")
        if any(opts.identity.get(fid) in (None, "") for fid in self.cover):
            raise CannotPatch("an identity field is empty (it would be left to fill in)")
        meta = meta_values(layout, opts)
        if list(meta) != self.meta_keys:
            raise CannotPatch("other _meta keys")
        if len(issues.rows) > MAX_ISSUES:
            raise CannotPatch("too many findings")
        ident = {k: opts.identity[k] for k in opts.identity if k in layout.form.fields}
        values = {**opts.values, **ident}
        cached = sheet_values(layout, dict(opts.values))
        strings = Strings(self.strings, len(self.sst_static))
        marked = {fid for fid in opts.marks if fid in self.comment_at}
        warned = {fid for fid in opts.warned if fid in marked}
        parts: dict[str, Any] = {}
        issues_part = self.sheet_parts[next(iter(self.sheet_parts))]
        parts[issues_part] = self._issues_xml(issues, strings).encode()
        commented: list[tuple[_SheetTemplate, list[tuple[int, int, str]]]] = []
        headers = [(probe, header_xml(opts.identity, cover)) for cover, probe
                   in zip((True, False), self.probe_headers, strict=True)]
        headers = [(probe, mine) for probe, mine in headers if probe != mine]
        for sheet in self.sheets:
            notes = sorted((r, c, opts.marks[fid]) for fid in marked
                           for s, r, c in self.comment_at[fid] if s == sheet.name)
            tail = sheet.tail_comments if notes else sheet.tail
            for probe, mine in headers:  # the page headers: the unit and the year
                tail = tail.replace(probe, mine)
            if len(sheet.pieces) == 1 and not notes:  # nothing to fill in: prepared
                if any(probe in sheet.tail for probe, _ in headers):
                    parts[sheet.part] = (sheet.pieces[0] + tail).encode()  # type: ignore
                    continue
                parts[sheet.part] = sheet.fixed or deflated_part(
                    (sheet.pieces[0] + sheet.tail).encode())  # type: ignore[operator]
                sheet.fixed = parts[sheet.part]  # type: ignore[assignment]
                continue
            out = []
            for piece in sheet.pieces:
                if isinstance(piece, str):
                    out.append(piece)
                else:
                    out.append(self._slot(piece, values, cached, meta, marked, warned,
                                          strings))
            out.append(tail)
            parts[sheet.part] = "".join(out).encode()
            if notes:
                commented.append((sheet, notes))
        parts.update(self._comment_parts(commented))
        ct = self.content_types
        if commented:
            ct = ct.replace("<Override ", self.vml_default + "<Override ", 1)
            overrides = "".join(self.comment_override.replace("comments1.", f"comments{k}.")
                                for k in range(1, len(commented) + 1))
            ct = ct.replace('<Override PartName="/xl/sharedStrings.xml"',
                            overrides + '<Override PartName="/xl/sharedStrings.xml"', 1)
        parts["[Content_Types].xml"] = ct.encode()
        parts["xl/sharedStrings.xml"] = strings.xml(
            self.sst_head, self.sst_body, self.count_static).encode()
        static = self.static_comments if commented else self.static
        return zip_members([(name, static.get(name) or parts[name]) for name in self.order
                     if name in parts or name in static])

    def _slot(self, slot: Slot, values: Mapping[str, Any], cached: Mapping[Any, Any],
              meta: Mapping[str, str], marked: set[str], warned: set[str],
              strings: Strings) -> str:
        kind = slot[0]
        if kind in ("input", "blank"):
            _, fid, ref, xf, xf_marked, xf_warned = slot
            xf = (xf_warned if fid in warned else xf_marked) if fid in marked else xf
            return value_cell(ref, xf, values.get(fid) if kind == "input" else None,
                               strings)
        if kind == "formula":
            _, i, ref, array, xf, formula = slot
            return formula_cell(ref, xf, formula, cached[self.layout.formulas[i].area.key],
                                 array)
        _, key, ref, xf = slot
        return string_cell(ref, xf, meta[key], strings)

    def _issues_xml(self, issues: IssueList, strings: Strings) -> str:
        """问题清单: the learned head, title and header, one generated row per finding."""
        it = self.issues
        out = [it.head.format(dim=f"A1:F{4 + len(issues.rows)}")]
        for piece in it.rows:
            if isinstance(piece, str):
                out.append(piece)
            elif issues.summary == "":  # merge_range writes "" as a blank cell
                out.append(cell_start(piece[2], piece[3]) + "/>")
            else:
                out.append(string_cell(piece[2], piece[3], issues.summary, strings))
        links = []
        for r in issues.rows:
            out.append(issue_row(r, it.label, it.quoted, strings))
            if r.link is not None:
                links.append(hyperlink_element(r))
        out.append(it.tail.format(
            links=f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else ""))
        return "".join(out)

    def _comment_parts(self, commented: list[tuple[_SheetTemplate, list[tuple[int, int, str]]]]
                       ) -> dict[str, bytes]:
        """comments{k}.xml, vmlDrawing{k}.vml and the sheet's relationships, numbered as
        xlsxwriter numbers them: k-th sheet with comments, shapes from 1024*k + 1."""
        parts = {}
        for k, (sheet, notes) in enumerate(commented, start=1):
            c = self.comments[sheet.name]
            if len(notes) >= 1023:
                raise CannotPatch("too many comments on one sheet")
            body, shapes = [c.head], [c.vml_head.format(data=k)]
            for z, (row, col, text) in enumerate(notes, start=1):
                before, after = c.comment[(row, col)]
                if len(text) > MAX_TEXT:
                    raise CannotPatch("comment too long")
                body.append(before + t_element(text) + after)
                s1, s2, s3 = c.shape[(row, col)]
                shapes.append(f"{s1}{1024 * k + z}{s2}{z}{s3}")
            body.append(c.tail)
            shapes.append(c.vml_tail)
            parts[f"xl/comments{k}.xml"] = "".join(body).encode()
            parts[f"xl/drawings/vmlDrawing{k}.vml"] = "".join(shapes).encode()
            rels = sheet.part.replace("worksheets/", "worksheets/_rels/") + ".rels"
            parts[rels] = sheet.rels.format(k=k).encode()
        return parts


# --- one writer per process and layout -----------------------------------------------------

_WRITERS: dict[tuple[str, str, bytes, str], FeedbackWriter] = {}


def writer_for(layout: Layout, key: bytes, office: str) -> FeedbackWriter:
    """The prepared writer of this layout, key and office (prepared on first use; collect's
    worker processes each prepare their own once)."""
    cache_key = (layout.form.id, layout.fingerprint, key, office)
    writer = _WRITERS.get(cache_key)
    if writer is None or writer.layout is not layout:
        if len(_WRITERS) > 8:
            _WRITERS.clear()
        writer = _WRITERS[cache_key] = FeedbackWriter(layout, key, office)
    return writer
