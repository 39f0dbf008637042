"""Everything a reader needs is in the repository: no document or module points outside it."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fl_lightning.experiments.methods import method_names
from tests.test_readme_results import CELL, RESULTS_README, tables

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


def test_the_readme_says_offline_lineage_is_metadata_only() -> None:
    """Issue 30, item 4: W&B refuses `use_artifact` offline, so a synced offline run has no
    lineage graph; the README says so where it promises lineage, not a reader's guess."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Weights & Biases") :].split("\n## ", 1)[0]
    text = " ".join(section.split())
    assert "a synced offline run has no lineage graph" in text
    assert "lineage is metadata only" in text


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
    assert sorted(listed) == sorted(method_names())


def test_every_metric_the_design_names_is_one_the_code_writes() -> None:
    """A backticked `family/name` in design.md is a metric of `metric_names` (or a file)."""
    design = (REPO / "docs" / "design.md").read_text()
    names = re.findall(r"`([a-z_]+/[^`\s]*)`", design)
    metrics = [n for n in names if not n.endswith(("/", ".py", ".md"))]  # not a folder or file
    assert "test/acc" in metrics  # the section was read
    source = (REPO / "fl_lightning" / "tracking" / "metric_names.py").read_text()
    assert [m for m in metrics if f'"{m}"' not in source] == []


RESULT_FOLDERS = sorted(p for p in (REPO / "results").iterdir() if p.is_dir())


def test_every_results_folder_says_what_made_it_and_the_readme_links_it() -> None:
    readme = README.read_text()
    assert len(RESULT_FOLDERS) >= 4
    for folder in RESULT_FOLDERS:
        name = folder.relative_to(REPO).as_posix()
        assert (folder / "README.md").is_file(), f"{name} has no README"
        made = re.search(r"^Made by `([^`]+)`", (folder / "README.md").read_text(), re.MULTILINE)
        assert made, f"{name}/README.md has no 'Made by `command`' line"
        summary = folder / "summary.json"  # a comparison's; a check's figures may be elsewhere
        if summary.is_file():
            assert made[1] == json.loads(summary.read_text())["command"], name
        link = re.search(
            rf"^- \[`{name}/`\]\({name}/README\.md\): \*?\*?(\w+)", readme, re.MULTILINE
        )
        assert link, f"the README does not link {name}"
        assert link[1] in ("current", "superseded"), (name, link[1])


def readme_summary() -> tuple[int, list[str]]:
    """The line number and the lines of the README's opening result paragraph."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("**Result**"))
    end = lines.index("", start)
    return start + 1, lines[start:end]


def test_the_readme_opens_with_a_three_line_result_whose_figures_are_the_tables() -> None:
    line, summary = readme_summary()
    assert line < 25 and len(summary) <= 3, (line, summary)
    cells = set()
    # the three-seed grids the opening rests on: plain, and with server optimizers (IID, Dirichlet)
    grids = [
        RESULTS_README,
        *sorted((REPO / "results").glob("fashion_mnist_server_opt*/README.md")),
    ]
    for table in (t for readme in grids for t in tables(readme.read_text())):
        for row in table:
            cells |= {m["mean"] for c in row.values() if (m := CELL.match(c))}
    figures = re.findall(r"(\d[\d,]*(?:\.\d+)?) ?(?:x|MB|%)", " ".join(summary))
    assert len(figures) >= 6
    assert [f for f in figures if f not in cells] == []


def test_mb_is_defined_where_it_is_first_used() -> None:
    text = README.read_text()
    first = re.search(r"\bMB\b", text)
    assert first is not None
    line = text[text.rfind("\n", 0, first.start()) : text.find("\n", first.end())]
    assert "1 MB = 10^6 B" in line, line


def test_the_readme_has_no_long_table() -> None:
    """Long tables live in the results folders' READMEs; the README links them."""
    assert max(len(t) for t in tables(README.read_text())) <= 13


def test_every_literature_figure_is_cited() -> None:
    """A figure of other work ('literature', 'published', 'reports') names its source: authors,
    a quoted title and the venue's year."""
    text = " ".join(README.read_text().split())
    citation = re.compile(r'et al\., (?:\()?"[^"]+",? [^.;)]*\d{4}')
    mentions = [
        m.start() for m in re.finditer(r"literature|published [\w-]+ results|reports \d", text)
    ]
    assert mentions
    for at in mentions:
        assert citation.search(text[at : at + 500]), text[at : at + 120]
    for mention in re.finditer(r"et al\.", text):  # and every citation has its year
        assert re.search(r"\d{4}", text[mention.end() : mention.end() + 160]), mention


def test_every_module_of_the_package_is_named_in_the_architecture_page() -> None:
    """docs/architecture.md pins the modules' interfaces; a module it does not name is one a
    maintainer cannot find there (add a line under its package's section)."""
    page = (REPO / "docs" / "architecture.md").read_text()
    missing = [
        str(path.relative_to(REPO))
        for path in SOURCES
        if path.stem != "__init__" and not re.search(rf"(?<!\w){re.escape(path.stem)}(?!\w)", page)
    ]
    assert not missing, f"docs/architecture.md does not name {missing}"
