"""What reading a file found, kept beside its submission.

Reading a returned workbook (pre-check, parse, structure verification, normalisation) gives
the same result for the same bytes as long as nianbao and the form's layout are the same.
Revalidation re-runs the current rules and the collection's judgement on every submission;
with an extract whose key still matches, it starts from here instead of the bytes.
"""

from __future__ import annotations

import json
from typing import Any

from nianbao import deflate
from nianbao.check import CheckResult
from nianbao.findings import Finding, Severity
from nianbao.read.normalise import from_json
from nianbao.read.submission import Submission
from nianbao.spec.layout import layout_for
from nianbao.spec.model import Form
from nianbao.validate.rules import check_rules
from nianbao.version import __version__

# Findings the rules produce: recomputed from the values, never kept.
RULE_CODES = frozenset({"UNBALANCED"})


def extract_key(form: Form) -> str:
    """Reading is the same while nianbao's version and the form's layout are."""
    return f"{__version__}:{form.id}:{layout_for(form).fingerprint}"


def make_extract(result: CheckResult) -> tuple[str, bytes] | None:
    """The reading of a usable file, compressed; None for a file nothing was read from."""
    sub, form = result.submission, result.form
    if sub is None or form is None or not sub.usable:
        return None
    # the values and identity are the verdict's record already: not kept twice
    data = {
        "file": result.file, "sha256": result.sha256, "size": result.size,
        "meta": sub.meta, "overwritten": sorted(sub.overwritten),
        "findings": [f.to_dict() for f in result.findings if f.code not in RULE_CODES],
    }
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return extract_key(form), deflate.compress(blob, 1)


def result_from_extract(blob: bytes, record: dict[str, Any], form: Form) -> CheckResult:
    """The check result of the file the extract was made from, under the current rules;
    `record` is the identity and values its verdict holds (read with the same extract)."""
    d: dict[str, Any] = json.loads(deflate.decompress(blob))
    kinds = {fid: f.kind for fid, f in form.fields.items()}
    values = {k: from_json(v, kinds[k]) for k, v in record["values"].items() if k in kinds}
    identity = {k: from_json(v, kinds.get(k, "text")) for k, v in record["identity"].items()}
    findings = [_finding(f) for f in d["findings"]]
    sub = Submission(d["file"], form, dict(d["meta"]), identity, values, {},
                     set(d["overwritten"]), findings)
    result = CheckResult(d["file"], d["sha256"], d["size"], list(findings), sub)
    result.findings.extend(check_rules(form, values, file=d["file"]))
    return result


def _finding(f: dict[str, Any]) -> Finding:
    return Finding(f["code"], Severity(f["severity"]), f["message"], f.get("file"),
                   f.get("sheet"), f.get("cell"), f.get("field"), f.get("rule"),
                   dict(f.get("values") or {}))
