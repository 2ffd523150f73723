"""The compiled path of the rules (validate/evaluate.py builds Python source and execs it) against
hostile specs: field ids, labels and expressions that would run code if spliced into the
source. Whatever a spec holds, the source is ours (ids only as string literals, checked by its
syntax tree), the functions run without builtins, and the sums are the term-by-term ones."""

from __future__ import annotations

import ast
import copy
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nianbao.spec.load import SpecError, build_form, spec_path
from nianbao.validate import evaluate
from nianbao.validate.evaluate import Terms, _compile, _source, _sum, plan

OFFICIAL = tomllib.loads(spec_path().read_text(encoding="utf-8"))

# What would run if an id were pasted into the source as is, in each quoting context
# of `n['...']`, `n["..."]`, a triple-quoted string, a line of its own, an escape.
PAYLOAD = "__import__('pathlib').Path({canary!r}).touch()"
CONTEXTS = ["x'] + {p} + n['y", 'x"] + {p} + n["y', "x''' + {p} + '''y", 'x""" + {p} + """y',
            "x\n{p}\ny", "x\\'] + {p} #", "x\\\\'] + {p} #", "{p}", "]) or {p} or (n[",
            "x\r\n{p}", "\x00{p}", "x\u2028{p}"]


def hostile_ids(canary: Path) -> list[str]:
    payload = PAYLOAD.format(canary=str(canary))
    return [c.format(p=payload) for c in CONTEXTS]


ALLOWED_NAMES = {"n", "g", "t", "x", "int", "KeyError", "current_all", "current_any",
                 "totals_all", "totals_any"}
ALLOWED_CALLS = {"t", "g", "current_all", "current_any", "totals_all", "totals_any"}
ALLOWED_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Tuple,
                 ast.Name, ast.Load, ast.Store, ast.Constant, ast.BinOp, ast.Add, ast.Sub,
                 ast.Subscript, ast.Assign, ast.IfExp, ast.NamedExpr, ast.Compare, ast.Is,
                 ast.Attribute, ast.Call, ast.Try, ast.ExceptHandler)


def audit(source: str, ids: set[str], constants: dict[str, Any]) -> None:
    """Every node of the source is one we write: additions of n[id] / g(id, 0), named
    constants, the tidy call, the dispatch functions; every string in it is a field id."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        assert isinstance(node, ALLOWED_NODES), ast.dump(node)
        if isinstance(node, ast.Name):
            assert (node.id in ALLOWED_NAMES or node.id in constants
                    or (node.id[0] == "v" and node.id[1:].isdigit())), node.id
        elif isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in ALLOWED_CALLS
        elif isinstance(node, ast.Attribute):
            assert node.attr in ("__class__", "get"), node.attr
        elif isinstance(node, ast.Constant):
            assert node.value == 0 or node.value in ids, repr(node.value)
    assert {f.name for f in tree.body} == {"current_all", "current_any", "totals_all",
                                           "totals_any", "current", "totals"}


def test_the_official_forms_source_is_only_sums_of_its_fields() -> None:
    form = build_form(copy.deepcopy(OFFICIAL))
    p = plan(form)
    source, constants = _source(p.sides, p.computed)
    audit(source, set(form.fields), constants)
    assert p.current.__globals__["__builtins__"] == {}  # nothing to import or open with


def test_hostile_field_ids_stay_string_literals(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    ids = hostile_ids(canary)
    a, b, c = ids[:4], ids[4:8], ids[8:]
    terms = [Terms((1 if i % 3 else -1, f, False) for i, f in enumerate(group))
             for group in (a, b, c)]
    sides = {"r1": (terms[0], Decimal("1.5"), terms[1], 0), "r2": (terms[2], 0, terms[0], 2)}
    computed = (("total", terms[2], 0),)
    source, constants = _source(sides, computed)
    audit(source, {*ids, "total"}, constants)
    current, totals = _compile(sides, computed)
    nums = {f: i + 1 for i, f in enumerate(ids)}
    got = current(nums)
    assert got == tuple((_sum(lt, lc, nums), _sum(rt, rc, nums))
                        for lt, lc, rt, rc in sides.values())
    assert current({ids[0]: 7}) == tuple((_sum(lt, lc, {ids[0]: 7}), _sum(rt, rc, {ids[0]: 7}))
                                         for lt, lc, rt, rc in sides.values())  # n.get path
    assert totals(dict(nums)) == (_sum(terms[2], 0, nums),)
    assert not canary.exists()


def test_an_id_that_is_not_a_str_is_refused(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"

    class Sly(str):  # a str subclass may say anything in its repr
        def __repr__(self) -> str:
            return PAYLOAD.format(canary=str(canary))

    for sly in (Sly("a"), 3):
        with pytest.raises(TypeError):
            _compile({"r": (Terms([(1, sly, False)]), 0, Terms([]), 0)}, ())
    assert not canary.exists()


def rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def prose(data: dict[str, Any], field_id: str) -> dict[str, Any]:
    return next(f for f in data["prose"]["fields"] if f["id"] == field_id)


def spec_with(change: str, text: str) -> dict[str, Any]:
    """The official spec with one hostile text put where `change` says."""
    data = copy.deepcopy(OFFICIAL)
    if change == "field id":
        prose(data, "text.other")["id"] = text
    elif change == "column id":
        data["tables"][0]["blocks"][0]["columns"][0]["id"] = text
    elif change == "rule id":
        rule(data, "R1")["id"] = text
    elif change == "rule check":
        rule(data, "R1")["check"] = text
    elif change == "label":
        prose(data, "text.other")["label"] = text
        rule(data, "R1")["label"] = text
        rule(data, "R1")["text"] = text
    return data


@pytest.mark.parametrize("change", ["field id", "column id", "rule id", "rule check", "label"])
def test_hostile_specs_are_refused_or_compile_to_sums_only(tmp_path: Path, change: str
                                                          ) -> None:
    canary = tmp_path / "pwned"
    for text in [*hostile_ids(canary), PAYLOAD.format(canary=str(canary)) + " == 0"]:
        try:
            form = build_form(spec_with(change, text))
        except SpecError:
            continue  # refused with its key path: nothing compiled
        assert change in ("label", "rule id"), (change, text)
        evaluate.plan.cache_clear()
        p = plan(form)
        source, constants = _source(p.sides, p.computed)
        audit(source, set(form.fields), constants)
        assert "pathlib" not in source and text not in source
        p.current({fid: 1 for fid in form.fields})
        p.totals({})
    evaluate.plan.cache_clear()
    assert not canary.exists()
