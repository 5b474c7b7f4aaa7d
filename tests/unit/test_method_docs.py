"""docs/methods.md covers every method, the method docstrings link to it, and nothing in the
repository links to a document that is not in the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn_core.methods import list_methods

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "methods.md"
# Research notes that live outside the repository: no file may point at them.
OUTSIDE = ("METHODS.md", "algorithms.md", "DESIGN.md", "STYLE.md", "../shared", "shared/reference")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.split() if f.endswith((".py", ".md", ".toml", ".sh", ".txt"))]


@pytest.mark.parametrize("info", list_methods(), ids=lambda m: m.name)
def test_every_method_has_a_section_and_its_docstring_links_to_it(info) -> None:
    assert f'<a id="{info.name}"></a>' in DOCS.read_text()
    module_doc = sys.modules[info.fn.__module__].__doc__ or ""
    assert f"docs/methods.md#{info.name}" in module_doc


def test_the_unlearn_page_shows_a_methods_own_section() -> None:
    from studio_ui.method_docs import method_section

    section = method_section("ssd")
    assert section.startswith("## SSD") and "Selective Synaptic Dampening" in section
    assert "## Bad-Teacher" not in section and "## SSD" not in method_section("bad_teacher")
    assert method_section("no_such_method") == ""


def test_no_file_links_to_a_document_outside_the_repository() -> None:
    offenders = [f"{p.relative_to(ROOT)}: {name}" for p in _tracked_text_files() if p.exists()
                 for name in OUTSIDE if name in p.read_text(errors="ignore") and p.name != Path(__file__).name]
    assert offenders == []


def test_relative_markdown_links_and_docs_references_resolve() -> None:
    missing = []
    for p in _tracked_text_files():
        if not p.exists():
            continue
        text = p.read_text(errors="ignore")
        targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) if p.suffix == ".md" else []
        for target in targets:
            if "://" not in target and not (p.parent / target).exists():
                missing.append(f"{p.relative_to(ROOT)} -> {target}")
        for ref in re.findall(r"\bdocs/[\w./-]+\.md", text):
            if not (ROOT / ref).exists():
                missing.append(f"{p.relative_to(ROOT)} -> {ref}")
    assert missing == []
