"""`--help` of every command: each `--data.*` and `--model.*` option has a description."""

from __future__ import annotations

import re

import pytest

from fl_lightning.cli import main


def option_helps(text: str) -> dict[str, str]:
    """Option name -> its help text, from argparse's help output."""
    helps: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (--[\w.]+)(?: [A-Z_\[\],.]+)?(?:\s{2,}(.*))?$", line)
        if match:
            current = match.group(1)
            helps[current] = (match.group(2) or "").strip()
        elif current and line.startswith(" " * 10):
            helps[current] += " " + line.strip()
        else:
            current = None
    return helps


@pytest.mark.parametrize("command", ["pretrain", "federate"])
def test_every_data_and_model_option_is_described(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    helps = option_helps(capsys.readouterr().out)
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
