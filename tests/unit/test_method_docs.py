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
MD_NAME = re.compile(r"[\w./-]*\w\.md\b")
# Markdown files the project writes at run time (not documents a reader is pointed to).
WRITTEN = {"gpu_check.md", "template.md"}


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    # links (studio_ui/shipped/ points into docs/ and benchmarks/) are checked where they point
    return [ROOT / f for f in out.split() if f.endswith((".py", ".md", ".toml", ".sh", ".txt"))
            and not (ROOT / f).is_symlink()]


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


def _documents_not_in_the_repository(text: str, base: Path, known: set[str]) -> list[str]:
    """Every ``*.md`` named in `text` that is neither a repository document (by path from `base` or
    from the root, or by file name) nor inside the repository at all (a path climbing out of it)."""
    out = []
    for ref in MD_NAME.findall(text):
        candidates = [base / ref] if ref.startswith(".") else [base / ref, ROOT / ref]
        inside = [c for c in candidates if c.resolve().is_relative_to(ROOT)]
        found = any(c.exists() for c in inside) or (not ref.startswith(".") and Path(ref).name in known | WRITTEN)
        if not inside or not found:
            out.append(ref)
    return out


def test_the_outside_document_check_catches_a_note_that_users_do_not_have() -> None:
    known = {"README.md", "methods.md"}
    assert _documents_not_in_the_repository("see docs/methods.md and README.md", ROOT, known) == []
    assert _documents_not_in_the_repository("see NOTES_NOT_SHIPPED.md", ROOT, known) == ["NOTES_NOT_SHIPPED.md"]
    assert _documents_not_in_the_repository("see ../elsewhere/README.md", ROOT, known) == ["../elsewhere/README.md"]


def test_no_file_names_a_document_outside_the_repository() -> None:
    files = [p for p in _tracked_text_files() if p.exists() and p.name != Path(__file__).name]
    known = {p.name for p in files if p.suffix == ".md"}
    offenders = [f"{p.relative_to(ROOT)}: {ref}" for p in files
                 for ref in _documents_not_in_the_repository(p.read_text(errors="ignore"), p.parent, known)]
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
