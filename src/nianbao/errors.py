"""The errors nianbao raises on purpose, under one root: a program using the library catches
`NianbaoError`; each message is in Chinese and names the file (and where) it is about.

Findings about a returned file are never raised: they are `Finding` records (findings.py).
"""

from __future__ import annotations


class NianbaoError(Exception):
    """Root of every deliberate nianbao error."""


class InputError(NianbaoError, ValueError):
    """Something a person supplied cannot be used: a form spec, roster, workspace config or
    command argument."""


class StorageError(NianbaoError, RuntimeError):
    """The ledger or the file store cannot be read or written (database gone, disk full)."""


class RefusedError(NianbaoError, ValueError):
    """An operation was refused because what it was given does not fit (e.g. a template
    issued to another unit for `merge --into`)."""
