"""The README is for the people who run Spaces; dated figures live in docs/benchmarks.md.

These check what the code can check: the README's length, that its links and `make` targets lead
somewhere, that it cites no commits, and that every benchmark in bench/ has its section.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"

# A word of 7 to 40 hex digits with at least one letter and one digit: what a commit id looks like
# (years, ports and counts are all digits).
COMMIT = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")


def benchmark_scripts() -> list[Path]:
    """The scripts of bench/ that run on their own; the helpers they import (harness/, _audio.py) have no
    `__main__` block."""
    return sorted(
        path
        for path in (ROOT / "bench").glob("*.py")
        if re.search(r'^if __name__ == "__main__":', path.read_text(), re.M)
    )


def sections(markdown: str) -> dict[str, str]:
    """Each `## ` heading of a Markdown text, with the text under it."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def relative_links(markdown: str) -> list[str]:
    """The targets of Markdown links and images that are not URLs or anchors, without their anchor."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_the_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move depth to docs/"


def test_the_readme_cites_no_commits():
    for document in (README, BENCHMARKS):
        found = COMMIT.findall(document.read_text())
        assert not found, f"{document.name} compares with commits {found}: figures belong to a date"


@pytest.mark.parametrize("document", [README, BENCHMARKS], ids=lambda path: path.name)
def test_relative_links_lead_to_files(document):
    links = relative_links(document.read_text())
    assert links
    missing = [link for link in links if not (document.parent / link).exists()]
    assert not missing, f"{document.name} links to files that do not exist: {missing}"


def test_the_readme_links_the_docs_and_shows_the_screenshot():
    links = set(relative_links(README.read_text()))
    assert "docs/live-room.png" in links
    assert "docs/benchmarks.md" in links
    assert {"docs/architecture.md", "docs/production.md", "docs/protocol.md", "docs/hls.md"} <= links


def test_the_readme_make_targets_exist():
    readme = README.read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    # In code spans, and in the shell blocks people copy.
    used = set(re.findall(r"`make ([a-z][\w-]*)", readme))
    for block in re.findall(r"^```sh\n(.*?)^```", readme, re.M | re.S):
        used |= set(re.findall(r"(?:^|\s)make ([a-z][\w-]*)", block, re.M))
    assert {"run", "test"} <= used
    assert used <= targets, f"README runs make targets the Makefile lacks: {used - targets}"


def test_every_benchmark_has_its_section():
    scripts = benchmark_scripts()
    assert len(scripts) >= 9
    by_heading = sections(BENCHMARKS.read_text())
    for script in scripts:
        name = f"bench/{script.name}"
        found = [body for heading, body in by_heading.items() if name in heading]
        assert found, f"docs/benchmarks.md has no section for {name}"
        body = found[0]
        for part in ("**Measures**", "**Figures**", "**Target**"):
            assert part in body, f"{name}'s section says nothing under {part}"
        assert "python bench/" in body or "make bench-" in body, f"{name}'s section gives no command"


def test_the_readme_keeps_no_figures_table():
    readme = README.read_text()
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", readme), "dated figures belong in docs/benchmarks.md"
