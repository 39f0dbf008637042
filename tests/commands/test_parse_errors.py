"""Parse mistakes of every command: one line, "did you mean", the allowed values; no usage.

Also: a config file that gives a key twice is refused (all four commands), and `pretrain` has
one optimizer setting (`--model.optimizer`), not LightningCLI's `--optimizer` as well.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fl_lightning.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMOKE_PRETRAIN = str(CONFIGS / "pretrain" / "smoke.yaml")
SMOKE_FEDERATE = str(CONFIGS / "federate" / "smoke.yaml")


def error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line `fl-lightning ARGV` prints (exit code 2), after `COMMAND: error: `."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # before: ~60 lines of usage, a tip, then the error
    prefix = f"fl-lightning {argv[0]}: error: "
    assert lines[0].startswith(prefix), lines[0]
    assert "usage:" not in err and "typing.Literal" not in err and "Parser key" not in err
    return lines[0][len(prefix) :]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["federate", "--rouns", "3"],
            "unknown option --rouns (did you mean --rounds?); allowed: --checkpoint, --client.*, "
            "--config, --data.*, --engine, --federation.*",
        ),
        (
            ["federate", "--method", "propsed"],
            "--method='propsed' is not known (did you mean proposed?); choose one of: fedavg, "
            "dae_dense, proposed, lth_rewind, init_magnitude, random_prune, proposed_structured, "
            "random_structured, proposed_fdae, dae_dense_fdae.",
        ),
        (
            ["federate", "--federation.rouds", "3"],
            "unknown option --federation.rouds (did you mean --federation.rounds?); allowed in "
            "--federation: --federation.clients_per_round,",
        ),
        (["federate", "--config", "missing.yaml"], "--config='missing.yaml': no such file."),
        (["federate", "--config"], "--config needs a value; allowed: a YAML file."),
        (
            ["federate", "--rounds", "two"],
            "--rounds='two' is not valid; allowed: an integer or null.",
        ),
        (
            ["federate", "--federation.up_codec", "int3"],
            "--federation.up_codec='int3' is not known (did you mean int",
        ),
        (
            [
                "prune",
                "--checkpoint",
                "a.ckpt",
                "--sparsity",
                "0.5",
                "--output",
                "t.pt",
                "--scope",
                "globl",
            ],
            "--scope='globl' is not known (did you mean global?); choose one of: global, layer.",
        ),
        (
            ["prune", "--sparsity", "0.5"],
            "missing --checkpoint, --output (required); give them on the command line or in "
            "--config.",
        ),
        (
            ["prune", "--checkpoint", "a.ckpt", "--sparsty", "0.5"],
            "unknown option --sparsty (did you mean --sparsity?)",
        ),
        (["prune", "--config", "missing.yaml"], "--config='missing.yaml': no such file."),
        (
            ["compare", "--methods", "[fedavg, propsed]"],
            "--methods='[fedavg, propsed]': 'propsed' is not known (did you mean proposed?); "
            "choose one of: fedavg,",
        ),
        (
            ["compare", "--federate_confg", "x.yaml"],
            "unknown option --federate_confg (did you mean --federate_config?)",
        ),
        (
            ["compare", "--partitions", "[{name: dirichet}]"],
            "--partitions: name='dirichet' is not known (did you mean dirichlet?); choose one of: "
            "iid, dirichlet, shards.",
        ),
        (["compare", "--config", "missing.yaml"], "--config='missing.yaml': no such file."),
        (
            ["pretrain", "--trainer.max_epocs", "2"],
            "unknown option --trainer.max_epocs (did you mean --trainer.max_epochs?); allowed in "
            "--trainer: --trainer.accelerator, --trainer.accumulate_grad_batches,",
        ),
        (
            ["pretrain", "--model.noise", "gausian"],
            "--model.noise='gausian' is not known (did you mean gaussian?); choose one of: "
            "gaussian, masking.",
        ),
        (["pretrain", "--config", "missing.yaml"], "--config='missing.yaml': no such file."),
        (["pretrain", "-c", "missing.yaml"], "--config='missing.yaml': no such file."),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_parse_mistake_is_one_line_with_what_is_allowed(
    argv: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing written; relative names are looked up here
    assert expected in error_line(argv, capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_misspelt_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["federat", "--rounds", "3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "fl-lightning: error: unknown command 'federat' (did you mean federate?); choose one of: "
        "pretrain, prune, federate, compare, evaluate.\n"
    )


def test_a_config_value_names_the_file_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("method: propsed\n")
    message = error_line(["federate", "--config", str(config)], capsys)
    assert message.startswith(f"--config={str(config)!r}: method='propsed' is not known (did ")
    config.write_text("trainer:\n  max_epocs: 2\n")
    message = error_line(["pretrain", "--config", str(config)], capsys)
    assert message.startswith(
        f"--config={str(config)!r}: unknown option trainer.max_epocs (did you mean "
        "trainer.max_epochs?)"
    )


def test_the_real_command_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "fl_lightning", "federate", "--rouns", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(
        "fl-lightning federate: error: unknown option --rouns (did you mean --rounds?); allowed: "
    )
    assert done.stderr.count("\n") == 1, done.stderr
    # the usage is still there for --help
    shown = subprocess.run(
        [sys.executable, "-m", "fl_lightning", "federate", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: fl-lightning federate")


# -- a key given twice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "text", "key", "lines"),
    [
        (
            ["federate", "--method", "proposed", "--checkpoint", "missing.ckpt"],
            "method: fedavg\nrounds: 2\nmethod: proposed\n",
            "method",
            (1, 3),
        ),
        (
            ["prune", "--sparsity", "0.5", "--output", "t.pt"],
            "checkpoint: a.ckpt\nscope: layer\ncheckpoint: b.ckpt\n",
            "checkpoint",
            (1, 3),
        ),
        (
            ["compare", "--checkpoint", "missing.ckpt"],
            "methods: [fedavg]\npartitions:\n  - {name: iid, name: shards}\n",
            "partitions[0].name",
            (3, 3),
        ),
        (
            ["pretrain", "--config", SMOKE_PRETRAIN, "--output", "out"],
            "trainer:\n  max_epochs: 1\n  limit_train_batches: 1\n  max_epochs: 50\n",
            "trainer.max_epochs",
            (2, 4),
        ),
    ],
    ids=["federate", "prune", "compare", "pretrain"],
)
def test_a_key_given_twice_is_refused_naming_it_the_file_and_the_lines(
    argv: list[str],
    text: str,
    key: str,
    lines: tuple[int, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "twice.yaml").write_text(text)
    short = "-c" if argv[0] == "prune" else "--config"  # -c is checked as --config is
    message = error_line([*argv, short, "twice.yaml"], capsys)
    assert message == (
        f"--config='twice.yaml': key {key} is given twice (lines {lines[0]} and {lines[1]}); "
        "keep one (YAML would silently use the last)."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twice.yaml"]


def test_a_pretrain_config_with_a_key_given_twice_is_refused_by_federate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pre.yaml").write_text("model:\n  lr: 0.1\n  noise: masking\n  lr: 10\n")
    argv = ["federate", "--config", SMOKE_FEDERATE, "--method", "dae_dense"]
    message = error_line([*argv, "--pretrain_config", "pre.yaml"], capsys)
    assert message.startswith("--pretrain_config='") and message.endswith(
        "pre.yaml': key model.lr is given twice (lines 2 and 4); keep one (YAML would silently "
        "use the last)."
    )


# -- pretrain: one optimizer setting ----------------------------------------------------------


@pytest.mark.parametrize("where", ["command line", "config"])
def test_pretrain_has_one_optimizer_setting(
    where: str,
    tiny_fashion_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """LightningCLI's `--optimizer` replaced `--model.optimizer` in training while config.yaml,
    the checkpoint and W&B recorded the model's: it is gone, and named as the one to use."""
    monkeypatch.chdir(tmp_path)
    run = [
        "pretrain", "--config", SMOKE_PRETRAIN, "--data.root", str(tiny_fashion_root),
        "--data.num_images", "64", "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--output", "out",
    ]  # fmt: skip
    if where == "config":
        (tmp_path / "opt.yaml").write_text("optimizer:\n  class_path: torch.optim.SGD\n")
        message = error_line([*run, "--config", "opt.yaml"], capsys)
        assert message.startswith(
            "--config='opt.yaml': unknown option optimizer (did you mean model.optimizer?); "
            "allowed: data.*, model.*, output, seed_everything, trainer.*, verbose, wandb.*."
        )
    else:
        message = error_line([*run, "--optimizer", "torch.optim.SGD"], capsys)
        assert message.startswith("unknown option --optimizer (did you mean --model.optimizer?)")
        assert "--lr_scheduler" not in message
    assert not (tmp_path / "out").exists()
