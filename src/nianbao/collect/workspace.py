"""A collection workspace: config, roster, signing key, ledger, and the folders around them.

    DIR/nianbao.toml        reporting year, form, collecting office, deadline
    DIR/roster.csv          the reporting units
    DIR/.nianbao/secret.key key that signs issued templates (never distributed)
    DIR/ledger.sqlite       every submission, immutable, with its validations (or, with
                            `db` set, a PostgreSQL database; NIANBAO_DB when the config
                            names none)
    DIR/store/              original bytes of every file received, content-addressed
    DIR/outbox/             personalised templates to send out
    DIR/feedback/           feedback workbooks and receipts to send back
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from nianbao.errors import InputError
from nianbao.spec.load import DEFAULT_FORM

CONFIG_NAME = "nianbao.toml"
KEY_PATH = Path(".nianbao") / "secret.key"


class WorkspaceError(InputError):
    """The workspace is missing or its config is wrong; the message says where and what."""


@dataclass(frozen=True)
class Config:
    year: int
    form: str
    office: str
    office_code: str
    deadline: date | None
    roster: str = "roster.csv"
    block_unexplained_warnings: bool = False
    db: str = ""                       # a PostgreSQL URL; empty: ledger.sqlite in the folder


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: Config

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def ledger_target(self) -> str | Path:
        """Where the ledger lives: the config's `db`, else NIANBAO_DB, else ledger.sqlite."""
        return self.config.db or os.environ.get("NIANBAO_DB", "").strip() or self.ledger_path

    @property
    def ledger_id(self) -> str:
        """The workspace's identity in its ledger (from the signing key, never shown whole):
        a database serves one workspace only."""
        return hashlib.sha256(b"nianbao-ledger\0" + self.key).hexdigest()

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def feedback_dir(self) -> Path:
        return self.root / "feedback"

    @property
    def roster_path(self) -> Path:
        return self.root / self.config.roster

    @property
    def key(self) -> bytes:
        path = self.root / KEY_PATH
        try:
            text = path.read_text(encoding="ascii").strip()
            return bytes.fromhex(text)
        except (OSError, ValueError):
            raise WorkspaceError(f"{path}：签名密钥缺失或损坏，无法核验下发的模板") from None


EXAMPLE_ROSTER = """单位代码,单位名称,上级单位代码,联系人,截止日期
330503,某区人民政府办公室,,张三 0572-0000001,
330503-001,区发展和改革局,330503,李四 0572-0000002,
330503-002,区教育局,330503,王五 0572-0000003,
330503-017,区文化和广电旅游体育局,330503,赵六 0572-0000004,2023-01-15
"""


def init_workspace(root: Path, *, year: int, office: str, office_code: str = "",
                   deadline: date | None = None, form: str = DEFAULT_FORM,
                   roster: Path | None = None, db: str = "") -> Workspace:
    """Create a workspace; refuses to overwrite an existing one."""
    if (root / CONFIG_NAME).exists():
        raise WorkspaceError(f"{root / CONFIG_NAME} 已存在：这里已经是一个收集工作区")
    if db and not db.startswith(("postgresql://", "postgres://")):
        raise WorkspaceError(f"--db 应为 PostgreSQL 连接地址（postgresql://…），实为 {db!r}")
    for sub in ("store", "outbox", "feedback", "inbox", ".nianbao"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    key_path = root / KEY_PATH
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    (root / ".nianbao" / ".gitignore").write_text("*\n", encoding="utf-8")
    (root / ".nianbao" / "README.txt").write_text(
        "secret.key 用于给下发的模板签名、核验回收的文件，请勿外发，"
        "也不要放进下发给填报单位的文件夹。\n",
        encoding="utf-8")
    roster_name = "roster.csv"
    target = root / roster_name
    if roster is not None:
        roster_name = "roster" + roster.suffix.lower()
        target = root / roster_name
        target.write_bytes(roster.read_bytes())
    else:
        target.write_text(EXAMPLE_ROSTER, encoding="utf-8")
    config = Config(year=year, form=form, office=office, office_code=office_code,
                    deadline=deadline, roster=roster_name, db=db)
    (root / CONFIG_NAME).write_text(config_text(config), encoding="utf-8")
    return Workspace(root, config)


def config_text(c: Config) -> str:
    deadline = c.deadline.isoformat() if c.deadline else ""
    return f"""# nianbao 收集工作区配置
[collection]
year = {c.year}                 # 报告年度（统计的是这一年的情况）
form = "{c.form}"   # 模板编号（templates/ 下的规格文件）
office = "{_escape(c.office)}"       # 收集单位（政务公开办）
office_code = "{_escape(c.office_code)}"
deadline = "{deadline}"   # 报送截止日期（含当日）；名单中可为单位另设
roster = "{c.roster}"
# 为 true 时，未在“说明”栏解释的提醒也视为未通过
block_unexplained_warnings = {str(c.block_unexplained_warnings).lower()}
# 台账数据库：留空为本文件夹下的 ledger.sqlite；多台服务器共用时填 PostgreSQL 连接地址，
# 如 "postgresql://nianbao@db.example/nianbao2022"（为空时也可由环境变量 NIANBAO_DB 指定）
db = "{_escape(c.db)}"
"""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def open_workspace(root: Path) -> Workspace:
    """Load a workspace's config; every problem is a WorkspaceError naming file and key."""
    path = root / CONFIG_NAME
    if not path.is_file():
        raise WorkspaceError(f"{root} 不是收集工作区（没有 {CONFIG_NAME}），请先运行 nianbao init")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise WorkspaceError(f"{path}：无法读取配置：{exc}") from None
    c: dict[str, Any] = data.get("collection", {})
    problems = []
    year = c.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        problems.append(f"collection.year 应为四位数的年度，实为 {year!r}")
    deadline = None
    if c.get("deadline"):
        try:
            deadline = date.fromisoformat(str(c["deadline"]))
        except ValueError:
            problems.append("collection.deadline 应为 YYYY-MM-DD 格式的日期，"
                            f"实为 {c['deadline']!r}")
    form = c.get("form", DEFAULT_FORM)
    if not isinstance(form, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", form):
        problems.append(f"collection.form 不是合法的模板编号：{form!r}")
    for key in ("office", "office_code", "roster", "db"):
        if key in c and not isinstance(c[key], str):
            problems.append(f"collection.{key} 应为文本")
    if not isinstance(c.get("block_unexplained_warnings", False), bool):
        problems.append("collection.block_unexplained_warnings 应为 true 或 false（不加引号）")
    db = c.get("db", "")
    if isinstance(db, str) and db and not db.startswith(("postgresql://", "postgres://")):
        problems.append("collection.db 应为空或 PostgreSQL 连接地址（postgresql://…），"
                        f"实为 {db!r}")
    if problems:
        raise WorkspaceError(f"{path}：" + "；".join(problems))
    return Workspace(root, Config(
        year=year, form=form, office=c.get("office", ""), office_code=c.get("office_code", ""),
        deadline=deadline, roster=c.get("roster", "roster.csv"),
        block_unexplained_warnings=bool(c.get("block_unexplained_warnings", False)),
        db=db if isinstance(db, str) else ""))
