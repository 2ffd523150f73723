"""The command line stays in Chinese and refuses clearly: the framework's usage errors and
help screens in Chinese, a mistyped input path refused (exit 2) before anything is opened,
impossible years refused; outputs follow the umask, `-o` writes through a symlink and never
replaces a device, pipe or folder; `python -m nianbao` runs."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from nianbao.cli import app
from nianbao.fsutil import atomic_write
from tests.collect_helpers import make_workspace

ENGLISH = re.compile(r"Usage|Error|Missing|Invalid|No such|Try |Got unexpected|Show this")


def run(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.mark.parametrize(("args", "message"), [
    (["bogus"], "错误：没有“bogus”这个命令（可用的命令：init、"),
    (["template"], "错误：缺少选项 -o / --output"),
    (["template", "-o"], "错误：选项 -o 后面需要一个值"),
    (["template", "-o", "t.xlsx", "--year", "abc"], "错误：--year 的值无效：应为整数"),
    (["check"], "错误：缺少参数 files"),
    (["check", "--nope", "x.xlsx"], "错误：没有 --nope 这个选项"),
    (["demo", "a", "b"], "错误：多余的参数：b"),
    (["template", "-o", "t.xlsx", "--year", "23"],
     f"错误：--year：年度“23”不对：应为四位数的年份（2008–{date.today().year + 1}），如 2022"),
    (["init", "ws", "--year", "20222"], "年度“20222”不对"),
    (["collect", "x", "-j", "-1"], "“-1”不对：应为 0（全部 CPU 核）或正整数"),
    (["init", "ws", "--office", "某区\x0b办公室"],
     "错误：收集单位名称“某区<U+000B>办公室”含有不可见的控制字符（U+000B）"),
    (["template", "-o", "t.xlsx", "--unit-name", "甲_x0041_局"],
     "错误：单位名称“甲_x0041_局”含有会被 Excel 改写的“_xHHHH_”字样"),
    (["template", "-o", "t.xlsx", "--unit-code", "330599\u202e"],
     "错误：单位代码“330599<U+202E>”含有不可见的控制字符（U+202E）"),
])
def test_usage_errors_are_said_in_chinese(tmp_path: Path, args: list[str], message: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not ENGLISH.search(result.output), result.output
    assert not any(tmp_path.iterdir())  # nothing written


def test_the_usage_line_and_help_screens_are_chinese() -> None:
    result = run("bogus")
    assert result.output.startswith("用法：nianbao [选项] 命令 [参数]...\n"
                                    "运行 'nianbao --help' 查看帮助。\n")
    for args in (["--help"], ["template", "--help"], ["collect", "--help"]):
        result = run(*args)
        assert result.exit_code == 0
        assert "用法：" in result.output and "显示此帮助并退出。" in result.output
        assert "选项" in result.output
        assert not ENGLISH.search(result.output), result.output


def test_a_mistyped_input_path_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    ws, ledger = make_workspace(tmp_path / "ws")
    ledger.close()
    before = {p: p.stat().st_mtime_ns for p in ws.root.rglob("*")}
    for args in (["check", tmp_path / "回收 箱" / "甲.xlsx", tmp_path / "乙.xlsx"],
                 ["collect", "-w", ws.root, tmp_path / "回收 箱"],
                 ["import", tmp_path / "报告.docx"]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert "找不到 " in result.output and "：请检查路径是否写错" in result.output
        assert str(args[-1]) in result.output.replace("\n", "")
    assert {p: p.stat().st_mtime_ns for p in ws.root.rglob("*")} == before


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert run("template", "-o", tmp_path / "模板 1.xlsx").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "模板 1.xlsx").stat().st_mode) == 0o666 & ~umask


def test_output_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "真实").mkdir()
    target = tmp_path / "真实" / "模板.xlsx"
    target.write_bytes(b"old")
    link = tmp_path / "链接.xlsx"
    link.symlink_to(target)
    dangling = tmp_path / "悬空.xlsx"
    dangling.symlink_to(tmp_path / "真实" / "新.xlsx")
    for out in (link, dangling):
        result = run("template", "-o", out)
        assert result.exit_code == 0, result.output
        assert out.is_symlink()
    assert target.read_bytes()[:2] == b"PK"
    assert (tmp_path / "真实" / "新.xlsx").read_bytes()[:2] == b"PK"


def test_output_to_a_device_pipe_or_folder_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "管道.xlsx"
    os.mkfifo(fifo)
    folder = tmp_path / "文件夹.xlsx"
    folder.mkdir()
    link = tmp_path / "null.xlsx"
    link.symlink_to("/dev/null")
    for out, why in ((Path("/dev/null"), "这不是普通文件（设备或管道），不会写入或替换它"),
                     (fifo, "这不是普通文件（设备或管道），不会写入或替换它"),
                     (link, "这不是普通文件（设备或管道），不会写入或替换它"),
                     (folder, "这是一个文件夹，不能写成文件")):
        with pytest.raises(OSError) as info:
            atomic_write(out, b"data")
        assert info.value.strerror == why and info.value.filename == str(out)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and folder.is_dir() and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["管道.xlsx", "文件夹.xlsx", "null.xlsx"])  # no temporary file left behind


def test_the_command_says_why_it_refuses_a_device(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "nianbao", "template", "-o", "/dev/null"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "错误：无法读写 /dev/null：这不是普通文件（设备或管道），不会写入或替换它" in done.stderr


def test_python_dash_m_nianbao_runs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "nianbao", "template", "-o", "模板.xlsx"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "模板.xlsx").read_bytes()[:2] == b"PK"
    done = subprocess.run([sys.executable, "-m", "nianbao", "bogus"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "没有“bogus”这个命令" in done.stderr


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "资料").mkdir()
    (tmp_path / "资料" / "重要.xlsx").write_bytes(b"keep")
    (tmp_path / "文件").write_bytes(b"keep")
    for name, why in (("资料", "不是空的，也不是以前的演示工作区"),
                      ("文件", "是一个文件，不是文件夹")):
        result = run("demo", tmp_path / name)
        assert result.exit_code == 2 and why in result.output
    assert (tmp_path / "资料" / "重要.xlsx").read_bytes() == b"keep"
    assert (tmp_path / "文件").read_bytes() == b"keep"


def test_demo_runs_again_in_its_own_folder(tmp_path: Path) -> None:
    folder = tmp_path / "演示"
    for _ in range(2):  # the second run replaces the first demo's workspace
        result = run("demo", folder)
        assert result.exit_code == 0, result.output
        assert "演示完成。" in result.output
    assert len(list((folder / "outbox").glob("*.xlsx"))) == 17
    assert (folder / "年度报告-汇总-2022.docx").is_file()
