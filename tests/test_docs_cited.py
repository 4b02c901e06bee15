"""Every document the repository cites exists in it, and so does every cited section.

A citation is a markdown file named in capitals (DESIGN.md, docs/TOUR.md, benchmarks/NOTES.md,
...) in the code, the tests, the benchmarks or the docs. It resolves against the repository
root or the citing file's folder (a bare name may live anywhere in the repository). A
section is cited as `DESIGN.md, "Section name"` and must be a heading of that file.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r'((?:\.\./|[\w.-]+/)*[A-Z][A-Z0-9_]*\.md)(?:,\s+"([^"]+)")?')
SCANNED = (".py", ".md", ".sh", ".cu", ".cuh", ".cpp", ".h")
SKIPPED_DIRS = {".git", "build", "dist", "__pycache__", ".pytest_cache"}


def repository_files():
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and path.suffix in SCANNED and not parts & SKIPPED_DIRS \
                and not any(p.endswith(".egg-info") for p in parts) \
                and path != Path(__file__).resolve():     # its own examples are not citations
            yield path


def resolve(cited: str, citing: Path):
    for candidate in (ROOT / cited, citing.parent / cited):
        if candidate.is_file():
            return candidate
    if "/" not in cited:
        found = [p for p in ROOT.rglob(cited) if ".git" not in p.parts]
        return found[0] if len(found) == 1 else None
    return None


def headings(path: Path) -> set:
    return {line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")}


def citations(text: str):
    """(document, section or None) for each citation; the section may wrap a line."""
    return [(m.group(1), m.group(2) and " ".join(m.group(2).split()))
            for m in CITATION.finditer(text)]


def test_every_cited_document_and_section_exists():
    problems, count = [], 0
    for path in repository_files():
        for cited, section in citations(path.read_text(encoding="utf-8", errors="replace")):
            count += 1
            target = resolve(cited, path)
            where = path.relative_to(ROOT)
            if target is None:
                problems.append(f"{where}: cites {cited}, which is not in the repository")
            elif section and section not in headings(target):
                problems.append(f"{where}: cites {cited}, \"{section}\", which has no such "
                                "section")
    assert count > 20                       # the scan sees the citations
    assert not problems, "\n".join(problems)


def test_a_missing_document_or_section_is_caught():
    assert citations('see docs/DESIGN.md, "The op\n  contract" and NOTES.md') == [
        ("docs/DESIGN.md", "The op contract"), ("NOTES.md", None)]
    absent = "NO_SUCH_DOC" + ".md"          # built here, so no file cites a missing doc
    assert not (ROOT / absent).exists()
    assert resolve(absent, ROOT / "p2p_cupy" / "x.py") is None
    assert "The cost model" in headings(ROOT / "docs" / "DESIGN.md")
    assert "The costs" not in headings(ROOT / "docs" / "DESIGN.md")
