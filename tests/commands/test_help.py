"""`--help` of every command: each `--data.*` and `--model.*` option has a description."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fl_lightning.cli import main
from tests.cli_process import run_cli


@pytest.mark.parametrize("command", ["pretrain", "federate"])
def test_every_data_and_model_option_is_described(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    helps = every_option_help(capsys.readouterr().out)
    options = {k: v for k, v in helps.items() if k.startswith(("--data.", "--model."))}
    assert len(options) >= 8, sorted(helps)
    undescribed = [k for k, v in options.items() if not re.sub(r"\(type: .*", "", v).strip()]
    assert undescribed == []
    # ranges are part of the help
    assert ">= 1" in helps["--data.batch_size" if command == "pretrain" else "--data.num_clients"]


@pytest.mark.parametrize("command", ["pretrain", "prune", "federate", "compare"])
def test_every_command_takes_c_and_the_same_wandb_switch(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "-c CONFIG, --config CONFIG" in text
    assert "--wandb.enabled" in text


@pytest.mark.parametrize("command", ["prune", "federate", "compare"])
def test_every_option_has_a_description_under_a_group_title(command: str, tmp_path: Path) -> None:
    """`fl-lightning COMMAND --help` as typed: no option without its help text, no group titled
    by a docstring's `Args:` (the `--ray.*` options of compare had both)."""
    done = run_cli(command, "--help", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    helps = every_option_help(done.stdout)
    assert len(helps) >= 8, sorted(helps)
    undescribed = [k for k, v in helps.items() if not re.sub(r"\(type: .*", "", v).strip()]
    assert undescribed == []
    titles = [line for line in done.stdout.splitlines() if line.endswith(":") and line[:1] != " "]
    assert titles and not [t for t in titles if t.startswith("Args:")], titles


def every_option_help(text: str) -> dict[str, str]:
    """Option name -> its help text, for every option of argparse's help output (whatever its
    metavar: `ADDRESS`, `{true,false}`, ...)."""
    helps: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (?:-\w, )?(--[\w.]+)(?: \S+)?(?:\s{2,}(.*))?$", line)
        if match:
            current = match.group(1)
            helps[current] = (match.group(2) or "").strip()
        elif current and line.startswith(" " * 10):
            helps[current] += " " + line.strip()
        else:
            current = None
    helps.pop("--help", None)
    return helps
