"""Load and validate a form spec (templates/*.toml) into a Form.

A broken spec is reported with the file and the key path of every problem found
(`tables[1].blocks[0].rows[3].id: ...`), never with a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import replace as _replace
from functools import cache
from pathlib import Path
from typing import Any

from nianbao.errors import InputError
from nianbao.resources import data_dir
from nianbao.spec.expr import ExprError, parse
from nianbao.spec.model import (
    COUNT,
    KINDS,
    NUMERIC_KINDS,
    TEXT,
    Block,
    Cover,
    CoverField,
    Field,
    Form,
    Header,
    Instructions,
    Note,
    Prose,
    ProseField,
    Rule,
    RuleInstance,
    Table,
)

DEFAULT_FORM = "ogi-annual-2021"
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_SEGMENT = re.compile(r"^([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)?$")
_ID_SAFE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\']")


class SpecError(InputError):
    """The spec file is broken; `problems` holds (key path, message) pairs."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}：{path}：{msg}" if path else f"{file}：{msg}" for path, msg in problems]
        super().__init__("模板规格文件有误：\n" + "\n".join(lines))


def templates_dir() -> Path:
    """Where form specs live: $NIANBAO_TEMPLATES, else the ones shipped with nianbao (resolved
    once: collect asks for every file it checks)."""
    env = os.environ.get("NIANBAO_TEMPLATES")
    if env:
        return Path(env)
    return data_dir("templates")


def spec_path(form_id: str = DEFAULT_FORM) -> Path:
    return templates_dir() / f"{form_id}.toml"


@cache
def load_form(form_id: str = DEFAULT_FORM) -> Form:
    """The form with this id from the templates folder (cached: forms are immutable)."""
    return load_spec(spec_path(form_id))


@cache
def load_older_form(form_id: str, version: str) -> Form | None:
    """An earlier version of a form, kept in templates/archive/ (<id>-<version>.toml) so
    that returns of templates issued from it are read as issued; None when not kept."""
    if not _SEMVER.match(version) or not _ID_SAFE.match(form_id):
        return None
    path = templates_dir() / "archive" / f"{form_id}-{version}.toml"
    if not path.is_file():
        return None
    try:
        form = load_spec(path)
    except SpecError:
        return None
    return form if (form.id, form.version) == (form_id, version) else None


def load_spec(path: Path) -> Form:
    """Read, validate and expand one spec file."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(name, [("", f"无法读取：{exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(name, [("", f"TOML 语法错误：{exc}")]) from None
    return build_form(data, name, path)


def build_form(data: dict[str, Any], name: str = "<spec>", path: Path | None = None) -> Form:
    """Validate a parsed spec; raise SpecError listing every problem with its key path."""
    builder = _Builder(name)
    form = builder.build(data, path)
    if builder.problems or form is None:
        raise SpecError(name, builder.problems)
    return form


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[tuple[str, str]] = []

    # -- small typed getters that record a located problem instead of raising --------
    def problem(self, path: str, msg: str) -> None:
        self.problems.append((path, msg))

    def table_at(self, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problem(path, "应为表（键值对）")
            return {}
        return data

    def get(self, data: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...],
            default: Any = ..., choices: tuple[Any, ...] | None = None) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in data:
            if default is ...:
                self.problem(where, "缺少此项")
                return None
            return default
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.problem(where, f"类型应为 {names}，实为 {type(value).__name__}")
            return None if default is ... else default
        if choices is not None and value not in choices:
            self.problem(where, f"应为 {'、'.join(map(str, choices))} 之一，实为“{value}”")
            return None if default is ... else default
        return value

    def strings(self, data: dict[str, Any], key: str, path: str,
                default: Any = ...) -> tuple[str, ...]:
        value = self.get(data, key, path, list, default)
        if value is None:
            return ()
        if not all(isinstance(v, str) for v in value):
            self.problem(f"{path}.{key}", "应为字符串列表")
            return ()
        return tuple(value)

    def field_id(self, data: dict[str, Any], path: str) -> str:
        """A required, well-formed field id (`text.overview`, `note.t2`...)."""
        fid = self.get(data, "id", path, str) or ""
        if not _ID.match(fid):
            self.problem(f"{path}.id",
                         f"字段标识“{fid}”格式不对（小写字母、数字、下划线，用点分隔）")
        return fid

    def unknown_keys(self, data: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.problem(f"{path}.{key}" if path else key, "未知的键（拼写错误？）")

    # -- the form ------------------------------------------------------------------
    def build(self, data: dict[str, Any], source: Path | None) -> Form | None:
        self.unknown_keys(data, "", {"form", "cover", "prose", "tables", "rules",
                                     "instructions"})
        meta = self.table_at(data.get("form"), "form") if "form" in data else None
        if meta is None:
            self.problem("form", "缺少此项")
            meta = {}
        self.unknown_keys(meta, "form", {"id", "version", "title", "basis", "first_year",
                                         "font"})
        form_id = self.get(meta, "id", "form", str)
        if form_id and not re.match(r"^[a-z0-9][a-z0-9-]*$", form_id):
            self.problem("form.id", "只能由小写字母、数字和连字符组成")
        version = self.get(meta, "version", "form", str)
        if version and not _SEMVER.match(version):
            self.problem("form.version", f"应为语义化版本号（如 1.0.0），实为“{version}”")
        cover = self.cover(self.table_at(data.get("cover", {}), "cover"))
        prose = self.prose(self.table_at(data.get("prose", {}), "prose"))
        raw_tables = self.get(data, "tables", "", list)
        tables = [self.table(t, f"tables[{i}]") for i, t in enumerate(raw_tables or [])]
        tables_ok = [t for t in tables if t is not None]
        fields = self.fields(cover, prose, tables_ok)
        instr = self.instructions(self.table_at(data.get("instructions", {}), "instructions"))
        self.sheet_names(cover, prose, tables_ok, instr)
        raw_rules = self.get(data, "rules", "", list, [])
        rules, instances, definers = self.rules(raw_rules, tables_ok, fields)
        if self.problems or cover is None or prose is None or instr is None:
            return None
        computed = {fid: _replace(f, computed=True) if fid in definers else f
                    for fid, f in fields.items()}
        return Form(
            id=form_id, version=version, title=self.get(meta, "title", "form", str),
            basis=self.get(meta, "basis", "form", str, ""),
            first_year=self.get(meta, "first_year", "form", int, 2021),
            font=self.get(meta, "font", "form", str, "宋体"),
            cover=cover, prose=prose, tables=tuple(tables_ok), rules=tuple(rules),
            instances=tuple(instances), instructions=instr, fields=computed,
            definers=definers, source=source,
        )

    def cover(self, data: dict[str, Any]) -> Cover | None:
        path = "cover"
        self.unknown_keys(data, path, {"sheet", "title", "status_label", "version_label",
                                       "fields", "hint", "incomplete"})
        items = []
        for i, f in enumerate(self.get(data, "fields", path, list) or []):
            fp = f"{path}.fields[{i}]"
            f = self.table_at(f, fp)
            self.unknown_keys(f, fp, {"id", "label", "kind", "required", "width", "below"})
            fid = self.field_id(f, fp)
            items.append(CoverField(fid, self.get(f, "label", fp, str) or "",
                                    self.get(f, "kind", fp, str, TEXT, KINDS),
                                    self.get(f, "required", fp, bool, False),
                                    self.get(f, "below", fp, bool, False)))
        values = [self.get(data, k, path, str) for k in ("sheet", "title", "status_label",
                                                          "version_label")]
        if None in values:
            return None
        incomplete = self.get(data, "incomplete", path, str, Cover.incomplete)
        if "{n}" not in incomplete or '"' in incomplete:
            self.problem(f"{path}.incomplete", "应含“{n}”（未填写的单元格数），不含英文引号")
        return Cover(*values, fields=tuple(items), hint=self.get(data, "hint", path, str, ""),
                     incomplete=incomplete)

    def prose(self, data: dict[str, Any]) -> Prose | None:
        path = "prose"
        self.unknown_keys(data, path, {"sheet", "title", "fields"})
        items = []
        for i, f in enumerate(self.get(data, "fields", path, list) or []):
            fp = f"{path}.fields[{i}]"
            f = self.table_at(f, fp)
            self.unknown_keys(f, fp, {"id", "section", "label", "hint", "lines"})
            items.append(ProseField(
                self.field_id(f, fp), self.get(f, "section", fp, str) or "",
                self.get(f, "label", fp, str) or "", self.get(f, "hint", fp, str, ""),
                self.get(f, "lines", fp, int, 8)))
        sheet, title = self.get(data, "sheet", path, str), self.get(data, "title", path, str)
        if sheet is None or title is None:
            return None
        return Prose(sheet, title, tuple(items))

    def instructions(self, data: dict[str, Any]) -> Instructions | None:
        path = "instructions"
        self.unknown_keys(data, path, {"sheet", "title", "lines"})
        sheet, title = self.get(data, "sheet", path, str), self.get(data, "title", path, str)
        lines = self.strings(data, "lines", path, [])
        if sheet is None or title is None:
            return None
        return Instructions(sheet, title, lines)

    def headers(self, data: dict[str, Any], key: str, path: str) -> tuple[Header, ...]:
        out = []
        for i, h in enumerate(self.get(data, key, path, list) or []):
            hp = f"{path}.{key}[{i}]"
            h = self.table_at(h, hp)
            self.unknown_keys(h, hp, {"id", "path", "kind", "short"})
            hid = self.get(h, "id", hp, str)
            if hid is not None and not _SEGMENT.match(hid):
                self.problem(f"{hp}.id",
                             f"“{hid}”不是合法的标识（小写字母、数字、下划线，用点分隔）")
            out.append(Header(hid or "", self.strings(h, "path", hp),
                              self.get(h, "kind", hp, str, None, KINDS),
                              self.get(h, "short", hp, str, None)))
        if not out:
            self.problem(f"{path}.{key}", "至少需要一项")
        return tuple(out)

    def table(self, data: Any, path: str) -> Table | None:
        data = self.table_at(data, path)
        self.unknown_keys(data, path, {"id", "section", "sheet", "title", "kind",
                                       "not_applicable", "landscape", "note", "blocks",
                                       "groups"})
        blocks = []
        for i, b in enumerate(self.get(data, "blocks", path, list) or []):
            bp = f"{path}.blocks[{i}]"
            b = self.table_at(b, bp)
            self.unknown_keys(b, bp, {"title", "stub", "corner", "columns", "rows"})
            blocks.append(Block(self.headers(b, "columns", bp), self.headers(b, "rows", bp),
                                self.get(b, "title", bp, str, None),
                                self.get(b, "stub", bp, str, None),
                                self.get(b, "corner", bp, str, None)))
        if not blocks:
            self.problem(f"{path}.blocks", "至少需要一个表块")
        note = None
        if "note" in data:
            n = self.table_at(data["note"], f"{path}.note")
            self.unknown_keys(n, f"{path}.note", {"id", "label"})
            note = Note(self.field_id(n, f"{path}.note"),
                        self.get(n, "label", f"{path}.note", str) or "")
        tid = self.get(data, "id", path, str)
        if tid and not re.match(r"^[a-z][a-z0-9_]*$", tid):
            self.problem(f"{path}.id", f"表标识“{tid}”格式不对")
        table = Table(
            id=tid or "", section=self.get(data, "section", path, str) or "",
            sheet=self.get(data, "sheet", path, str) or "",
            title=self.get(data, "title", path, str) or "",
            kind=self.get(data, "kind", path, str, COUNT, NUMERIC_KINDS),
            blocks=tuple(blocks),
            not_applicable=self.get(data, "not_applicable", path, bool, False),
            landscape=self.get(data, "landscape", path, bool, False), note=note,
        )
        groups = self.groups(self.table_at(data.get("groups", {}), f"{path}.groups"),
                             f"{path}.groups", table)
        return _replace(table, groups=groups)

    def groups(self, data: dict[str, Any], path: str, table: Table) -> dict[str, tuple[str, ...]]:
        out = {}
        for name, spec in data.items():
            gp = f"{path}.{name}"
            spec = self.table_at(spec, gp)
            if len(spec) != 1 or next(iter(spec)) not in ("rows", "columns"):
                self.problem(gp, "应写作 { rows = ... } 或 { columns = ... }")
                continue
            axis, members = next(iter(spec.items()))
            ids = table.row_ids if axis == "rows" else table.column_ids
            resolved = self.members(members, ids, f"{gp}.{axis}")
            if resolved:
                out[name] = resolved
        return out

    def members(self, members: Any, ids: list[str], path: str) -> tuple[str, ...]:
        """A list of ids, or "first..last" meaning that run of ids in declared order."""
        if isinstance(members, str) and ".." in members:
            first, last = (s.strip() for s in members.split("..", 1))
            if first not in ids or last not in ids or ids.index(first) > ids.index(last):
                self.problem(path, f"范围“{members}”的起止项不存在或顺序颠倒")
                return ()
            return tuple(ids[ids.index(first): ids.index(last) + 1])
        if isinstance(members, list) and all(isinstance(m, str) for m in members):
            missing = [m for m in members if m not in ids]
            if missing:
                self.problem(path, f"未知的项：{'、'.join(missing)}")
                return ()
            return tuple(members)
        self.problem(path, "应为 \"起..止\" 或字符串列表")
        return ()

    def fields(self, cover: Cover | None, prose: Prose | None,
               tables: list[Table]) -> dict[str, Field]:
        fields: dict[str, Field] = {}

        def add(f: Field, path: str) -> None:
            if not f.id:
                return
            if f.id in fields:
                self.problem(path, f"字段标识“{f.id}”重复")
            fields[f.id] = f

        for i, c in enumerate(cover.fields if cover else ()):
            add(Field(c.id, c.kind, (c.label,), "封面", required=c.required),
                f"cover.fields[{i}].id")
        for ti, t in enumerate(tables):
            for bi, b in enumerate(t.blocks):
                shared = _common_prefix([c.path for c in b.columns]) if len(b.columns) > 1 else 0
                for ri, r in enumerate(b.rows):
                    for c in b.columns:
                        fid = ".".join(p for p in (t.id, r.id, c.id) if p)
                        kind = r.kind or c.kind or t.kind
                        label = ((b.title,) if b.title else ()) + r.path + c.path[shared:]
                        add(Field(fid, kind, label, t.section, table=t.id,
                                  not_applicable=t.not_applicable),
                            f"tables[{ti}].blocks[{bi}].rows[{ri}].id")
            if t.note:
                add(Field(t.note.id, TEXT, (t.title, "说明"), t.section, table=t.id),
                    f"tables[{ti}].note.id")
        for i, p in enumerate(prose.fields if prose else ()):
            add(Field(p.id, TEXT, (p.label,), p.section), f"prose.fields[{i}].id")
        return fields

    def sheet_names(self, cover: Cover | None, prose: Prose | None, tables: list[Table],
                    instr: Instructions | None) -> None:
        names = [(f"tables[{i}].sheet", t.sheet) for i, t in enumerate(tables)]
        names += [("cover.sheet", cover.sheet)] if cover else []
        names += [("prose.sheet", prose.sheet)] if prose else []
        names += [("instructions.sheet", instr.sheet)] if instr else []
        seen: set[str] = set()
        for path, name in names:
            if (not name or len(name) > 31 or _SHEET_BAD.search(name) or name.startswith("_")
                    or name.lower() == "history"):
                self.problem(path, f"工作表名“{name}”不合法（1-31 个字符，不含 []:*?/\\' ，"
                                   "不以 _ 开头，不能是 History）")
            if name.lower() in seen:  # Excel compares sheet names case-insensitively
                self.problem(path, f"工作表名“{name}”重复（不区分大小写）")
            seen.add(name.lower())

    # -- rules -----------------------------------------------------------------------
    def rules(self, raw: list[Any], tables: list[Table], fields: dict[str, Field]
              ) -> tuple[list[Rule], list[RuleInstance], dict[str, RuleInstance]]:
        rules, instances, definers = [], [], {}
        by_id = {t.id: t for t in tables}
        seen: set[str] = set()
        for i, r in enumerate(raw):
            rp = f"rules[{i}]"
            r = self.table_at(r, rp)
            self.unknown_keys(r, rp, {"id", "severity", "kind", "table", "foreach", "check",
                                      "defines", "place", "label", "text", "source"})
            rid = self.get(r, "id", rp, str) or ""
            if rid in seen:
                self.problem(f"{rp}.id", f"规则编号“{rid}”重复")
            seen.add(rid)
            rule = Rule(
                id=rid, severity=self.get(r, "severity", rp, str, "error",
                                          ("error", "warning", "info")),
                label=self.get(r, "label", rp, str) or "", text=self.get(r, "text", rp, str) or "",
                source=self.get(r, "source", rp, str, ""),
                kind=self.get(r, "kind", rp, str, "balance", ("balance", "values")),
                table=self.get(r, "table", rp, str, None), check=self.get(r, "check", rp, str, ""),
                defines=self.get(r, "defines", rp, bool, False),
                place=self.get(r, "place", rp, str, "row", ("row", "column")),
            )
            rules.append(rule)
            if rule.kind == "values":
                continue
            table = by_id.get(rule.table or "")
            if table is None:
                self.problem(f"{rp}.table", f"未知的表“{rule.table}”")
                continue
            if not rule.check:
                self.problem(f"{rp}.check", "缺少此项")
                continue
            for inst in self.expand(rule, r.get("foreach", {}), table, by_id, fields, rp):
                instances.append(inst)
                if rule.defines:
                    lhs = inst.comparison.lhs.terms
                    if len(lhs) != 1 or lhs[0][0] != 1 or lhs[0][1].prev:  # type: ignore[union-attr]
                        self.problem(f"{rp}.check", "defines = true 时左边必须是单个字段")
                    else:
                        definers.setdefault(inst.anchor, inst)
        self.check_cycles(definers, "rules")
        return rules, instances, definers

    def expand(self, rule: Rule, foreach: Any, table: Table, tables: dict[str, Table],
               fields: dict[str, Field], rp: str) -> list[RuleInstance]:
        foreach = self.table_at(foreach, f"{rp}.foreach")
        if len(foreach) > 1:
            self.problem(f"{rp}.foreach", "只支持一个循环变量")
            return []
        bindings: list[tuple[str, str]] = [("", "")]
        if foreach:
            var, values = next(iter(foreach.items()))
            values = self.foreach_values(values, tables, f"{rp}.foreach.{var}")
            bindings = [(var, v) for v in values]
        out = []
        for var, value in bindings:
            text = rule.check.replace("{" + var + "}", value) if var else rule.check
            if "{" in text:
                self.problem(f"{rp}.check", f"“{text}”中有未绑定的变量")
                return out

            def expand_ref(ref: str) -> list[str]:
                return self.expand_group(ref, tables)

            try:
                comparison = parse(text, expand_ref)
            except ExprError as exc:
                self.problem(f"{rp}.check", str(exc))
                return out
            unknown = [str(r) for r in comparison.refs if r.field not in fields]
            if unknown:
                self.problem(f"{rp}.check", f"未知的字段：{'、'.join(unknown)}")
                return out
            out.append(RuleInstance(rule, value, _where(value, table), comparison))
        return out

    def foreach_values(self, values: Any, tables: dict[str, Table], path: str) -> list[str]:
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            return values
        if isinstance(values, str) and values.count(".") == 1:
            tid, axis = values.split(".")
            if tid in tables and axis in ("rows", "columns"):
                t = tables[tid]
                return t.row_ids if axis == "rows" else t.column_ids
        self.problem(path, f"应为字符串列表或“表.rows”/“表.columns”，实为“{values}”")
        return []

    def expand_group(self, ref: str, tables: dict[str, Table]) -> list[str]:
        m = re.search(r"\[(\w+)\]", ref)
        if not m:
            return [ref]
        table = tables.get(ref.split(".", 1)[0])
        members = table.groups.get(m.group(1)) if table else None
        if members is None:
            raise ExprError(f"未知的分组“{m.group(1)}”（{ref}）")
        return [ref[: m.start()] + member + ref[m.end():] for member in members]

    def check_cycles(self, definers: dict[str, RuleInstance], path: str) -> None:
        state: dict[str, int] = {}

        def visit(fid: str) -> bool:
            if state.get(fid) == 1:
                return False
            if state.get(fid) == 2 or fid not in definers:
                return True
            state[fid] = 1
            ok = all(visit(r.field) for r in definers[fid].comparison.rhs.refs)
            state[fid] = 2
            return ok

        for fid in definers:
            if not visit(fid):
                self.problem(path, f"合计公式循环引用（涉及 {fid}）")
                return


def _common_prefix(paths: list[tuple[str, ...]]) -> int:
    n = 0
    while all(len(p) > n + 1 and p[n] == paths[0][n] for p in paths):
        n += 1
    return n


def _where(value: str, table: Table) -> str:
    """Chinese name of a bound rule variable: a column, a row, or a group of columns."""
    if not value:
        return table.title
    for axis, headers in (("列", [c for b in table.blocks for c in b.columns]),
                          ("行", [r for b in table.blocks for r in b.rows])):
        exact = [h for h in headers if h.id == value]
        if exact:
            return f"「{exact[0].path[-1]}」{axis}" if exact[0].path else table.title
        under = [h for h in headers if h.id.startswith(value + ".")]
        if under:
            n = _common_prefix([h.path for h in under]) if len(under) > 1 else len(under[0].path)
            return "「" + "·".join(under[0].path[:n]) + "」"
    return value
