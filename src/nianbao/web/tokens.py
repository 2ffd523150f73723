"""Secrets of the portal: units' personal links, the office secret, sessions and CSRF tokens.

Every secret is an HMAC under the workspace's key, so nothing secret is stored beside it:
a unit's link is HMAC(key, unit code, generation) and `nianbao links` prints it again at
any time. Revoking a unit bumps its generation (only its link changes). The per-unit state
(generation, revoked, window closed) lives in `.nianbao/portal.json`, beside the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nianbao.collect.workspace import Workspace
from nianbao.fsutil import atomic_write_text

STATE_NAME = Path(".nianbao") / "portal.json"
TOKEN_BYTES = 20            # 160 bits: above the 128 the links need
SESSION_HOURS = 12


def _mac(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unit_token(key: bytes, code: str, generation: int) -> str:
    """The secret of one unit's link (URL-safe, 160 bits)."""
    return _b64(_mac(key, "nianbao-unit-link", code, str(generation))[:TOKEN_BYTES])


def office_secret(key: bytes) -> str:
    """The office's sign-in secret (also the API's bearer token)."""
    return _b64(_mac(key, "nianbao-office-signin")[:TOKEN_BYTES])


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# -- per-unit state ----------------------------------------------------------------------

@dataclass
class UnitLink:
    generation: int = 0
    revoked: bool = False
    closed: bool = False      # the office closed this unit's upload window


@dataclass
class LinkState:
    """Generations, revocations and closed windows of every unit (absent: the defaults)."""

    path: Path
    units: dict[str, UnitLink] = field(default_factory=dict)

    @classmethod
    def load(cls, ws: Workspace) -> LinkState:
        path = ws.root / STATE_NAME
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}：无法读取门户设置（{exc}）") from None
        units = {str(code): UnitLink(int(v.get("generation", 0)), bool(v.get("revoked")),
                                     bool(v.get("closed")))
                 for code, v in (data.get("units") or {}).items()}
        return cls(path, units)

    def save(self) -> None:
        data = {"units": {c: u.__dict__ for c, u in sorted(self.units.items())}}
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False, indent=1))

    def of(self, code: str) -> UnitLink:
        return self.units.get(code, UnitLink())

    def revoke(self, code: str) -> None:
        self.units[code] = UnitLink(self.of(code).generation, True, self.of(code).closed)

    def reissue(self, code: str) -> None:
        """A new link for the unit (the old one stops working)."""
        self.units[code] = UnitLink(self.of(code).generation + 1, False, self.of(code).closed)

    def set_closed(self, code: str, closed: bool) -> None:
        link = self.of(code)
        self.units[code] = UnitLink(link.generation, link.revoked, closed)


def unit_links(key: bytes, codes: list[str], state: LinkState) -> dict[str, str]:
    """code -> token of every unit whose link is not revoked."""
    return {c: unit_token(key, c, state.of(c).generation) for c in codes
            if not state.of(c).revoked}


def link_maker(key: bytes, state: LinkState, base_url: str) -> Callable[[str], str | None]:
    """code -> the unit's personal link (None when revoked)."""
    def link(code: str) -> str | None:
        s = state.of(code)
        return None if s.revoked else f"{base_url}/u/{unit_token(key, code, s.generation)}"
    return link


class TokenIndex:
    """Find the unit of a presented token: looked up by the token's hash (which tells an
    attacker nothing), then confirmed with a constant-time comparison."""

    def __init__(self, links: dict[str, str]) -> None:
        self._by_hash = {self._h(tok): (code, tok) for code, tok in links.items()}

    @staticmethod
    def _h(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "replace")).digest()

    def unit(self, token: str) -> str | None:
        hit = self._by_hash.get(self._h(token))
        return hit[0] if hit is not None and same(hit[1], token) else None


# -- office sessions and CSRF ------------------------------------------------------------

def session_cookie(key: bytes, now: float | None = None) -> str:
    """A signed session: issue time and its MAC (nothing to store server-side)."""
    issued = str(int(now if now is not None else time.time()))
    return f"{issued}.{_b64(_mac(key, 'nianbao-office-session', issued))}"


def session_valid(key: bytes, cookie: str | None, now: float | None = None) -> bool:
    if not cookie or "." not in cookie:
        return False
    issued, _, mac = cookie.partition(".")
    if not issued.isdigit() or not same(mac, _b64(_mac(key, "nianbao-office-session", issued))):
        return False
    age = (now if now is not None else time.time()) - int(issued)
    return 0 <= age <= SESSION_HOURS * 3600


def csrf_token(key: bytes, cookie: str) -> str:
    """The CSRF token of a session: bound to the cookie, so a cross-site page cannot know it."""
    return _b64(_mac(key, "nianbao-csrf", cookie)[:16])


# -- slowing down guessing ---------------------------------------------------------------

class Throttle:
    """Bad tokens per client address: after a few in a minute, each next answer waits
    longer (up to `cap` seconds), so guessing links is slowed down."""

    def __init__(self, free: int = 5, window: float = 60.0, cap: float = 3.0) -> None:
        self.free, self.window, self.cap = free, window, cap
        self._bad: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def delay(self, client: str, now: float | None = None) -> float:
        """Seconds to wait before answering this client (0 while it behaves)."""
        now = now if now is not None else time.monotonic()
        with self._lock:
            recent = [t for t in self._bad.get(client, []) if now - t < self.window]
            self._bad[client] = recent
        over = len(recent) - self.free
        return 0.0 if over < 0 else min(self.cap, 0.25 * 2 ** min(over, 8))

    def failed(self, client: str, now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        with self._lock:
            if len(self._bad) > 10_000:  # bounded memory under a spray of addresses
                self._bad.clear()
            self._bad.setdefault(client, []).append(now)
