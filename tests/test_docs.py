"""Everything a reader needs is in the repository: no document or module points outside it."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fl_lightning.experiments.methods import METHODS

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SOURCES = sorted((REPO / "fl_lightning").rglob("*.py"))


def test_the_design_document_is_in_the_repository() -> None:
    design = (REPO / "docs" / "design.md").read_text()
    for section in ("## The method", "## Package map", "## Contracts", "## Metric names"):
        assert section in design
    assert "docs/design.md" in (REPO / "README.md").read_text()


def test_no_document_or_module_points_outside_the_repository() -> None:
    for path in DOCUMENTS + SOURCES:
        text = path.read_text()
        assert "DESIGN.md" not in text, path
        assert "shared/" not in text, path
        for name in re.findall(r"[\w./-]+\.md\b", text):
            if "://" in name or not ("/" in name or name[0].isupper()):
                continue  # a URL, or an output file named in passing (summary.md)
            if name.split("/")[0].lstrip("-").isupper() or name.startswith("--"):
                continue  # an output under a placeholder folder (DIR/summary.md)
            places = [REPO / name, path.parent / name, REPO / "docs" / name]
            assert any(p.is_file() for p in places), f"{path.relative_to(REPO)} names {name}"


def make_help(*, terminal: bool = False) -> str:
    """`make help`'s output into a pipe (or, with `terminal`, a pseudo-terminal)."""
    if not terminal:
        done = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True)
        return done.stdout
    main, child = pty.openpty()
    with subprocess.Popen(["make", "-s", "help"], cwd=REPO, stdout=child) as proc:
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait()
    os.close(main)
    return b"".join(chunks).decode()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_help_is_plain_text_in_a_pipe_and_coloured_on_a_terminal() -> None:
    piped = make_help()
    assert "\033" not in piped and "install" in piped
    assert "\033[36m" in make_help(terminal=True)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_readme_lists_every_make_target() -> None:
    targets = [line.split()[0] for line in make_help().splitlines() if line.strip()]
    sentence = re.search(r"`make help` lists every target \(([^)]*)\)", README.read_text())
    assert sentence, "the README's sentence listing `make help`'s targets"
    assert re.findall(r"`([\w-]+)`", sentence[1]) == targets


def test_the_design_lists_every_method() -> None:
    design = (REPO / "docs" / "design.md").read_text()
    listed = re.findall(r"^\| `(\w+)` \|", design, flags=re.MULTILINE)
    assert sorted(listed) == sorted(METHODS)


def test_every_metric_the_design_names_is_one_the_code_writes() -> None:
    """A backticked `family/name` in design.md is a metric of `metric_names` (or a file)."""
    design = (REPO / "docs" / "design.md").read_text()
    names = re.findall(r"`([a-z_]+/[^`\s]*)`", design)
    metrics = [n for n in names if not n.endswith(("/", ".py", ".md"))]  # not a folder or file
    assert "test/acc" in metrics  # the section was read
    source = (REPO / "fl_lightning" / "federated" / "metric_names.py").read_text()
    assert [m for m in metrics if f'"{m}"' not in source] == []
