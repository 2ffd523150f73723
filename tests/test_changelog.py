"""Units hold copies of templates: every template version, with its layout fingerprint,
is recorded in CHANGELOG.md, so a layout change cannot ship without a recorded version."""

from __future__ import annotations

from pathlib import Path

from nianbao.spec.layout import layout_for
from nianbao.spec.load import load_spec, templates_dir

ROOT = Path(__file__).resolve().parents[1]


def test_every_template_version_and_layout_is_in_the_changelog() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    # the current specs and the earlier versions kept to read returns of their templates
    specs = sorted(templates_dir().glob("*.toml")) + sorted(
        templates_dir().glob("archive/*.toml"))
    assert specs
    for spec in specs:
        form = load_spec(spec)
        entry = (f"Template {form.id} {form.version} "
                 f"(layout fingerprint {layout_for(form).fingerprint})")
        assert entry in changelog, f"CHANGELOG.md lacks: {entry}"
