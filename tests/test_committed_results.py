"""Committed results name no machine: no absolute path in any text file under `results/`
(commands, configs, provenance), so a reader's copy holds nothing of the machine they came from;
a path there is relative (`configs/...`, or to the folder the command ran in)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".json", ".md", ".yaml", ".yml", ".csv", ".txt"}
#: an absolute POSIX or home path of two or more parts, where a value or a word starts
ABSOLUTE = re.compile(r"""(?:^|[\s"'`=(\[:,])((?:~|/[\w.-]+)(?:/[\w.-]+)+)""", re.MULTILINE)


def absolute_paths(text: str) -> list[str]:
    """The absolute paths `text` names."""
    return ABSOLUTE.findall(text)


def test_no_committed_result_names_an_absolute_path() -> None:
    files = [p for p in sorted((REPO / "results").rglob("*")) if p.suffix in TEXT_SUFFIXES]
    assert len(files) >= 15  # every results folder's summaries, configs and READMEs
    found = {str(p.relative_to(REPO)): absolute_paths(p.read_text()) for p in files}
    assert {name: paths for name, paths in found.items() if paths} == {}


def test_the_check_sees_a_machine_path() -> None:
    assert absolute_paths('"checkpoint": "/work/runs/pretrain/seed0/dae.ckpt"') == [
        "/work/runs/pretrain/seed0/dae.ckpt"
    ]
    yaml_text = "output: /srv/runs/x\n  save_dir: ~/runs/x"
    assert absolute_paths(yaml_text) == ["/srv/runs/x", "~/runs/x"]
    assert absolute_paths("Command: `fl-lightning compare --config /a/b.yaml`") == ["/a/b.yaml"]
    relative = "--config configs/compare/x.yaml; 1 MB = 10^6 B; down/up; bits/param; ../x/y"
    assert absolute_paths(relative) == []
