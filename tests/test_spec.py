"""The shipped spec: its field ids are the public schema, its rules and totals are the form's.

A broken spec is a SpecError naming the file and the key path, one test per class of
mistake, and the CLI turns it into exit code 2 with the located message.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nianbao.cli import app
from nianbao.spec.layout import layout_for
from nianbao.spec.load import SpecError, build_form, load_spec, spec_path

# --- the public record schema, copied from field-ids.md --------------------------------------

IDENTITY = ["unit.code", "unit.name", "year"]

T2 = [
    "t2.regulations.issued", "t2.regulations.repealed", "t2.regulations.in_force",
    "t2.normative_docs.issued", "t2.normative_docs.repealed", "t2.normative_docs.in_force",
    "t2.licensing",
    "t2.penalty",
    "t2.enforcement",
    "t2.fees_wan_yuan",
]

T3_COLUMNS = ["natural_person", "business", "research", "nonprofit", "legal_service",
              "other_org", "total"]
T3_ROWS = [
    "new",
    "carried_over",
    "granted",
    "partial",
    "denied.state_secret",
    "denied.prohibited_by_law",
    "denied.security_stability",
    "denied.third_party",
    "denied.internal_affairs",
    "denied.process_info",
    "denied.enforcement_files",
    "denied.inquiry",
    "unable.not_held",
    "unable.needs_creation",
    "unable.unclear",
    "not_processed.petition",
    "not_processed.duplicate",
    "not_processed.publication",
    "not_processed.excessive",
    "not_processed.confirmation",
    "other.overdue_correction",
    "other.overdue_fee",
    "other.other",
    "outcome_total",
    "carry_forward",
]
T3 = [f"t3.{row}.{col}" for row in T3_ROWS for col in T3_COLUMNS]

T4_BLOCKS = ["review", "suit_direct", "suit_after_review"]
T4_COLUMNS = ["upheld", "corrected", "other", "pending", "total"]
T4 = [f"t4.{block}.{col}" for block in T4_BLOCKS for col in T4_COLUMNS]

PROSE = ["text.overview", "text.problems", "text.other"]
NOTES = ["note.t2", "note.t3", "note.t4"]
CONTACTS = ["contact.filler", "contact.phone", "contact.reviewer", "contact.date"]  # 1.1.0

CORNER = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"

SPEC_TEXT = spec_path().read_text(encoding="utf-8")
SPEC_DATA = tomllib.loads(SPEC_TEXT)


def test_documented_lists_have_the_documented_sizes():
    assert (len(IDENTITY), len(T2), len(T3), len(T4), len(PROSE)) == (3, 10, 175, 15, 3)
    assert len(set(IDENTITY + T2 + T3 + T4 + PROSE)) == 206


# --- the shipped spec -------------------------------------------------------------------------


def test_shipped_spec_loads(form):
    assert (form.id, form.version) == ("ogi-annual-2021", "1.1.0")
    assert [t.id for t in form.tables] == ["t2", "t3", "t4"]
    assert [t.sheet for t in form.tables] == ["主动公开", "依申请公开", "复议诉讼"]
    assert form.source is not None and form.source.name == "ogi-annual-2021.toml"


def test_field_ids_are_exactly_the_documented_ones_plus_notes(form):
    documented = IDENTITY + CONTACTS + T2 + T3 + T4 + PROSE
    assert set(form.fields) == set(documented) | set(NOTES)
    assert len(form.fields) == len(documented) + len(NOTES) == 213


def test_explanation_fields_are_text_notes_of_each_table(form):
    for table, note in zip(("t2", "t3", "t4"), NOTES, strict=True):
        f = form.fields[note]
        assert (f.kind, f.table, f.computed) == ("text", table, False)
        assert f.label_path[-1] == "说明"
        assert form.table(table).note.id == note


def test_table_fields_are_in_documented_order(form):
    ids = list(form.fields)
    assert [i for i in ids if i.startswith("t2.")] == T2
    assert [i for i in ids if i.startswith("t3.")] == T3
    assert [i for i in ids if i.startswith("t4.")] == T4
    assert [i for i in ids if i.startswith("text.")] == PROSE
    assert form.table("t3").row_ids == T3_ROWS
    assert form.table("t3").column_ids == T3_COLUMNS


@pytest.mark.parametrize(("field_id", "label"), [
    ("t3.denied.state_secret.natural_person",
     "三、本年度办理结果 / （三）不予公开 / 1.属于国家秘密 / 自然人"),
    ("t3.new.business", "一、本年新收政府信息公开申请数量 / 法人或其他组织 / 商业企业"),
    ("t3.outcome_total.total", "三、本年度办理结果 / （七）总计 / 总计"),
    ("t3.other.other.other_org",
     "三、本年度办理结果 / （六）其他处理 / 3.其他 / 法人或其他组织 / 其他"),
    ("t3.carry_forward.legal_service", "四、结转下年度继续办理 / 法人或其他组织 / 法律服务机构"),
    ("t2.regulations.issued", "第二十条第（一）项 / 规章 / 本年制发件数"),
    ("t2.normative_docs.in_force", "第二十条第（一）项 / 行政规范性文件 / 现行有效件数"),
    ("t2.licensing", "第二十条第（五）项 / 行政许可 / 本年处理决定数量"),
    ("t2.fees_wan_yuan", "第二十条第（八）项 / 行政事业性收费 / 本年收费金额（单位：万元）"),
    ("t4.review.total", "行政复议 / 总计"),
    ("t4.suit_direct.upheld", "行政诉讼 / 未经复议直接起诉 / 结果维持"),
    ("t4.suit_after_review.pending", "行政诉讼 / 复议后起诉 / 尚未审结"),
    ("unit.name", "单位名称"),
    ("year", "报告年度"),
    ("text.problems", "五、存在的主要问题及改进情况"),
])
def test_label_paths(form, field_id, label):
    assert form.fields[field_id].label == label


def test_kinds(form):
    kinds = {fid: f.kind for fid, f in form.fields.items()}
    assert kinds.pop("t2.fees_wan_yuan") == "amount"
    for fid in T2 + T3 + T4:
        if fid != "t2.fees_wan_yuan":
            assert kinds[fid] == "count", fid
    assert (kinds["unit.name"], kinds["unit.code"], kinds["year"]) == ("text", "code", "year")
    for fid in PROSE + NOTES:
        assert kinds[fid] == "text", fid
    assert [f for f in form.fields.values() if f.kind == "amount"] == [
        form.fields["t2.fees_wan_yuan"]]


def test_not_applicable_only_in_table_two(form):
    allowed = {fid for fid, f in form.fields.items() if f.not_applicable}
    assert allowed == set(T2)


def test_computed_fields_are_exactly_the_totals(form):
    expected = ({f"t3.{row}.total" for row in T3_ROWS}
                | {f"t3.outcome_total.{col}" for col in T3_COLUMNS}
                | {f"t4.{block}.total" for block in T4_BLOCKS})
    assert len(expected) == 25 + 6 + 3
    assert {fid for fid, f in form.fields.items() if f.computed} == expected
    assert set(form.definers) == expected


def test_totals_are_defined_by_their_structural_rule(form):
    assert form.definers["t3.new.total"].id == "R5:new"
    assert form.definers["t3.outcome_total.business"].id == "R6:business"
    assert form.definers["t4.suit_direct.total"].id == "R7:suit_direct"
    rhs = [r.field for r in form.definers["t3.new.total"].comparison.rhs.refs]
    assert rhs == [f"t3.new.{c}" for c in T3_COLUMNS[:6]]
    outcomes = T3_ROWS[2:23]
    assert len(outcomes) == 21
    rhs = [r.field for r in form.definers["t3.outcome_total.business"].comparison.rhs.refs]
    assert rhs == [f"t3.{row}.business" for row in outcomes]


def test_rule_instances(form):
    counts: dict[str, int] = {}
    for inst in form.instances:
        counts[inst.rule.id] = counts.get(inst.rule.id, 0) + 1
    assert counts == {"R1": 7, "R5": 25, "R6": 7, "R7": 3, "X1": 7, "X2": 2}
    assert [r.id for r in form.rules] == ["R1", "R5", "R6", "R7", "R8", "X1", "X2"]
    assert form.value_rule is form.rule("R8")
    assert {r.id for r in form.rules if r.cross_year} == {"X1", "X2"}
    assert {r.id: r.severity for r in form.rules} == {
        "R1": "error", "R5": "error", "R6": "error", "R7": "error", "R8": "error",
        "X1": "warning", "X2": "warning"}
    assert [i.id for i in form.instances if i.rule.id == "R1"] == [
        f"R1:{c}" for c in T3_COLUMNS]
    assert [i.id for i in form.instances if i.rule.id == "R7"] == [
        f"R7:{b}" for b in T4_BLOCKS]


def test_r1_is_the_printed_balancing_rule(form):
    inst = next(i for i in form.instances if i.id == "R1:natural_person")
    assert [r.field for r in inst.comparison.lhs.refs] == [
        "t3.new.natural_person", "t3.carried_over.natural_person"]
    assert [r.field for r in inst.comparison.rhs.refs] == [
        "t3.outcome_total.natural_person", "t3.carry_forward.natural_person"]
    assert inst.anchor == "t3.new.natural_person"
    assert inst.where == "「自然人」列"


def test_corner_note_is_verbatim(form, layout):
    assert form.table("t3").blocks[0].corner == CORNER
    corner = [c for c in layout.labels if c.text == CORNER]
    assert len(corner) == 1
    assert (corner[0].area.sheet, corner[0].area.ref) == ("依申请公开", "A4:C6")


# --- broken specs: one test per class of mistake ----------------------------------------------


def broken(mutate) -> SpecError:
    data = copy.deepcopy(SPEC_DATA)
    mutate(data)
    with pytest.raises(SpecError) as info:
        build_form(data, "x.toml")
    return info.value


def assert_located(err: SpecError, path: str, words: str) -> None:
    """The message names the file, the key path and says what is wrong there."""
    assert err.file == "x.toml"
    assert any(p == path and words in m for p, m in err.problems), err.problems
    assert f"x.toml：{path}：" in str(err)
    assert words in str(err)


def test_syntax_error_names_file_and_line(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text('[form]\nid = "x"\nversion = \n', encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)
    assert "TOML 语法错误" in str(info.value)
    assert "line 3" in str(info.value)


def test_unreadable_spec_file(tmp_path: Path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "missing.toml")
    assert "无法读取" in str(info.value)


def test_unknown_key_is_a_typo():
    err = broken(lambda d: d["tables"][1].__setitem__("landscap", True))
    assert_located(err, "tables[1].landscap", "未知的键")
    assert len(err.problems) == 1


def test_unknown_top_level_key():
    err = broken(lambda d: d.__setitem__("rule", []))
    assert_located(err, "rule", "未知的键")


def test_missing_form_id():
    err = broken(lambda d: d["form"].pop("id"))
    assert_located(err, "form.id", "缺少此项")
    assert err.problems == [("form.id", "缺少此项")]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0-beta", "1.0.x"])
def test_bad_semver(version):
    err = broken(lambda d: d["form"].__setitem__("version", version))
    assert_located(err, "form.version", f"实为“{version}”")


def test_version_of_wrong_type():
    err = broken(lambda d: d["form"].__setitem__("version", 1))
    assert_located(err, "form.version", "类型应为 str")


def test_duplicate_field_id():
    err = broken(lambda d: d["tables"][2]["note"].__setitem__("id", "note.t3"))
    assert_located(err, "tables[2].note.id", "字段标识“note.t3”重复")


def test_duplicate_row_id_makes_duplicate_fields():
    err = broken(lambda d: d["tables"][1]["blocks"][0]["rows"][1].__setitem__("id", "new"))
    assert_located(err, "tables[1].blocks[0].rows[1].id", "字段标识“t3.new.natural_person”重复")


def test_unknown_field_in_rule_check():
    err = broken(lambda d: d["rules"][0].__setitem__(
        "check", "t3.new.{column} == t3.nope.{column}"))
    assert_located(err, "rules[0].check", "未知的字段：t3.nope.natural_person")


def test_unknown_group():
    err = broken(lambda d: d["rules"][1].__setitem__(
        "check", "t3.{row}.total == sum(t3.{row}.[applicant])"))
    assert_located(err, "rules[1].check", "未知的分组“applicant”")


@pytest.mark.parametrize("members", ["other_org..natural_person", "natural_person..nobody"])
def test_bad_group_range(members):
    err = broken(lambda d: d["tables"][1]["groups"]["applicants"].__setitem__("columns", members))
    assert_located(err, "tables[1].groups.applicants.columns", f"范围“{members}”")


def test_group_of_unknown_members():
    err = broken(lambda d: d["tables"][1]["groups"].__setitem__("x", {"rows": ["new", "zzz"]}))
    assert_located(err, "tables[1].groups.x.rows", "未知的项：zzz")


@pytest.mark.parametrize(("check", "words"), [
    ("t3.new.{column} + == t3.outcome_total.{column}", "意外的“==”"),
    ("t3.new.{column} = t3.outcome_total.{column}", "无法识别"),
    ("t3.new.{column}", "表达式不完整"),
    ("t3.new.{column} == t3.carry_forward.{column} == 0", "多余的内容"),
    ("t3.new.{col} == t3.carry_forward.{col}", "未绑定的变量"),
])
def test_rule_that_parses_badly(check, words):
    err = broken(lambda d: d["rules"][0].__setitem__("check", check))
    assert_located(err, "rules[0].check", words)


def test_defines_with_multi_field_left_side():
    err = broken(lambda d: d["rules"][1].__setitem__(
        "check", "t3.{row}.total + t3.{row}.natural_person == sum(t3.{row}.[applicants])"))
    assert_located(err, "rules[1].check", "defines = true 时左边必须是单个字段")


def test_defines_with_previous_year_left_side():
    err = broken(lambda d: d["rules"][1].__setitem__(
        "check", "prev.t3.{row}.total == sum(t3.{row}.[applicants])"))
    assert_located(err, "rules[1].check", "defines = true 时左边必须是单个字段")


def test_cycle_of_totals():
    def cycle(d):
        d["rules"].append({"id": "R9", "severity": "error", "table": "t3", "defines": True,
                           "check": "t3.new.natural_person == t3.new.total",
                           "label": "x", "text": "x"})
    err = broken(cycle)
    assert_located(err, "rules", "合计公式循环引用")


def test_self_defining_total_is_a_cycle():
    err = broken(lambda d: d["rules"][1].__setitem__("check", "t3.{row}.total == t3.{row}.total"))
    assert_located(err, "rules", "合计公式循环引用（涉及 t3.new.total）")


@pytest.mark.parametrize("name", ["主动/公开", "主动'公开", "x" * 32, "_meta", "", "a[1]", "a:b"])
def test_bad_sheet_name(name):
    err = broken(lambda d: d["tables"][0].__setitem__("sheet", name))
    assert_located(err, "tables[0].sheet", f"工作表名“{name}”不合法")


def test_duplicate_sheet_names():
    err = broken(lambda d: d["tables"][1].__setitem__("sheet", "主动公开"))
    assert_located(err, "tables[1].sheet", "工作表名“主动公开”重复")


def test_prose_sheet_named_like_the_cover():
    err = broken(lambda d: d["prose"].__setitem__("sheet", "封面"))
    assert_located(err, "prose.sheet", "工作表名“封面”重复")


def test_sheet_names_differing_only_in_case_are_duplicates():
    def same_but_case(d):
        d["tables"][0]["sheet"] = "Data"
        d["tables"][1]["sheet"] = "DATA"
    err = broken(same_but_case)
    assert_located(err, "tables[1].sheet", "重复")


def test_unknown_rule_table_and_foreach():
    err = broken(lambda d: d["rules"][0].__setitem__("table", "t9"))
    assert_located(err, "rules[0].table", "未知的表“t9”")
    err = broken(lambda d: d["rules"][0].__setitem__("foreach", {"column": "t3.cols"}))
    assert_located(err, "rules[0].foreach.column", "实为“t3.cols”")


def test_duplicate_rule_id():
    err = broken(lambda d: d["rules"][1].__setitem__("id", "R1"))
    assert_located(err, "rules[1].id", "规则编号“R1”重复")


def test_bad_choice_value():
    err = broken(lambda d: d["tables"][0]["blocks"][3]["rows"][0].__setitem__("kind", "money"))
    assert_located(err, "tables[0].blocks[3].rows[0].kind", "实为“money”")


def test_unknown_key_in_note():
    err = broken(lambda d: d["tables"][0]["note"].__setitem__("lable", "x"))
    assert_located(err, "tables[0].note.lable", "未知的键")


@pytest.mark.parametrize(("where", "mutate"), [
    pytest.param("prose.fields[0].id",
                 lambda d: d["prose"]["fields"][0].__setitem__("id", ""), id="prose"),
    pytest.param("tables[0].note.id",
                 lambda d: d["tables"][0]["note"].__setitem__("id", ""), id="note"),
    pytest.param("cover.fields[0].id",
                 lambda d: d["cover"]["fields"][0].__setitem__("id", ""), id="cover"),
])
def test_empty_field_id_is_reported(where, mutate):
    data = copy.deepcopy(SPEC_DATA)
    mutate(data)
    try:
        form = build_form(data, "x.toml")
    except SpecError as err:
        assert any(p == where for p, _ in err.problems), err.problems
        return
    layout_for(form)  # must not get here with a broken field map
    pytest.fail("an empty field id was accepted")


@pytest.mark.parametrize(("where", "mutate"), [
    pytest.param("prose.fields[0].id",
                 lambda d: d["prose"]["fields"][0].__setitem__("id", "Text Overview"), id="prose"),
    pytest.param("tables[0].note.id",
                 lambda d: d["tables"][0]["note"].__setitem__("id", "Note T2"), id="note"),
])
def test_malformed_prose_and_note_ids_are_reported(where, mutate):
    data = copy.deepcopy(SPEC_DATA)
    mutate(data)
    with pytest.raises(SpecError) as info:
        build_form(data, "x.toml")
    assert any(p == where for p, _ in info.value.problems)


def test_malformed_cover_id_is_reported():
    err = broken(lambda d: d["cover"]["fields"][0].__setitem__("id", "Unit Name"))
    assert_located(err, "cover.fields[0].id", "格式不对")


def test_every_problem_is_listed_not_just_the_first():
    def two(d):
        d["form"].pop("id")
        d["tables"][0]["sheet"] = "a/b"
    err = broken(two)
    paths = [p for p, _ in err.problems]
    assert paths == ["form.id", "tables[0].sheet"]


# --- the CLI ----------------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_template_with_syntax_error_exits_2(tmp_path: Path):
    spec = tmp_path / "broken.toml"
    spec.write_text('[form]\nid = "x"\nversion = \n', encoding="utf-8")
    out = tmp_path / "x.xlsx"
    result = invoke("template", "--spec", str(spec), "-o", str(out))
    assert result.exit_code == 2
    assert f"{spec}：TOML 语法错误" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(("old", "new", "located"), [
    ('id = "ogi-annual-2021"\n', "", "form.id：缺少此项"),
    ("landscape = true", "landscap = true", "tables[1].landscap：未知的键"),
    (f'version = "{SPEC_DATA["form"]["version"]}"', 'version = "1.0"',
     "form.version：应为语义化版本号"),
])
def test_cli_template_with_located_error_exits_2(tmp_path: Path, old, new, located):
    assert old in SPEC_TEXT
    spec = tmp_path / "broken.toml"
    spec.write_text(SPEC_TEXT.replace(old, new, 1), encoding="utf-8")
    out = tmp_path / "x.xlsx"
    result = invoke("template", "--spec", str(spec), "-o", str(out))
    assert result.exit_code == 2, result.output
    assert f"{spec}：{located}" in result.output
    assert not out.exists()


def test_cli_template_with_the_shipped_spec_file(tmp_path: Path):
    out = tmp_path / "x.xlsx"
    result = invoke("template", "--spec", str(spec_path()), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"PK"
