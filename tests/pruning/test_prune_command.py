"""`fl-lightning prune`: the files it writes, what it prints, and every bad input."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import torch

from fl_lightning import atomic
from fl_lightning.commands.prune import main
from fl_lightning.errors import UsageError
from fl_lightning.models.dae import file_sha256
from fl_lightning.pruning.ticket import Ticket, make_ticket
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.cli_process import run_cli

from .test_ticket import write_dae_checkpoint

NO_WB = ["--wandb.enabled", "false"]


@pytest.fixture(scope="module")
def dae_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dae_checkpoint(tmp_path_factory.mktemp("dae") / "dae.ckpt")


def test_prune_writes_ticket_and_report(
    dae_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "runs" / "ticket.pt"
    main(
        [
            "--checkpoint",
            str(dae_ckpt),
            "--sparsity",
            "0.9",
            "--scope",
            "layer",
            "--policy",
            "reinit",
            "--seed",
            "3",
            "--include_head",
            "false",
            "--output",
            str(output),
        ]
    )
    printed = capsys.readouterr().out
    for text in (
        "encoder.fc1.weight",
        "200x784",
        "15,680",
        "156,800",
        "0.1000",
        "total",
        str(output),
    ):
        assert text in printed
    ticket = Ticket.load(output)
    assert ticket.provenance["policy"] == "reinit" and ticket.provenance["seed"] == 3
    report = json.loads(output.with_suffix(".json").read_text())
    assert report["scope"] == "layer" and report["density"] == pytest.approx(0.1, abs=1e-5)
    # W&B: the ticket is an Artifact made from the DAE checkpoint's (lineage), provenance in
    # the run config
    (run,) = (output.parent / "wandb").glob("offline-run-*")
    logged = read_offline_run(run)
    (artifact,) = logged["artifacts"]
    assert artifact["name"] == "ticket-" + file_sha256(output)[:16]
    assert artifact["type"] == "ticket" and artifact["files"] == ["ticket.pt"]
    dae = "dae-checkpoint-" + file_sha256(dae_ckpt)[:16]
    assert artifact["metadata"]["derived_from"] == [dae]
    assert logged["config"]["inputs"] == [dae]
    assert logged["config"]["provenance"]["source_sha256"] == file_sha256(dae_ckpt)


def test_the_prune_run_defines_no_metric_it_does_not_log(dae_ckpt: Path, tmp_path: Path) -> None:
    """Issue 30, item 4: `fl-lightning prune` logs a ticket, no rounds: its W&B run defines
    no `round` step metric and no `test/acc` summary."""
    done = run_cli(
        "prune", "--checkpoint", str(dae_ckpt), "--sparsity", "0.9", "--output", "t/ticket.pt",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "t" / "wandb").glob("offline-run-*")
    logged = read_offline_run(run)
    assert logged["artifacts"]  # the run is there, with its ticket
    keys = {key for row in logged["history"] for key in row}
    assert [m for m in logged["metrics"] if m not in keys] == []


def test_options_from_a_yaml_config(dae_ckpt: Path, tmp_path: Path) -> None:
    output = tmp_path / "from_yaml.pt"
    config = tmp_path / "prune.yaml"
    config.write_text(f"checkpoint: {dae_ckpt}\nsparsity: 0.8\nscope: layer\noutput: {output}\n")
    main(["--config", str(config), "--policy", "rewind_init"])
    provenance = Ticket.load(output).provenance
    assert (provenance["sparsity"], provenance["scope"], provenance["policy"]) == (
        0.8,
        "layer",
        "rewind_init",
    )


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--sparsity" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scope", "bogus"], "--scope='bogus' is not known; choose one of: global, layer."),
        (["--policy", "bogus"], "--policy='bogus' is not known; choose one of: pretrained,"),
        (["--sparsity", "lots"], "--sparsity='lots' is not valid; allowed: a number."),
        (["--include_head", "maybe"], "--include_head='maybe' is not valid; allowed: true or"),
        (["--unknown", "1"], "unknown option --unknown; allowed: --checkpoint, --config,"),
        (["--config", "/nonexistent/prune.yaml"], "--config='/nonexistent/prune.yaml': no such"),
    ],
)
def test_parse_errors_are_usage_errors(
    dae_ckpt: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    """A parse mistake is a `UsageError` like any other (`cli.main`: one line, exit code 2)."""
    argv = [
        "--checkpoint",
        str(dae_ckpt),
        "--sparsity",
        "0.5",
        "--output",
        str(tmp_path / "t.pt"),
        *extra,
    ]
    with pytest.raises(UsageError) as error:
        main(argv)
    assert str(error.value).startswith(message)


def test_missing_required_arguments_are_named() -> None:
    with pytest.raises(UsageError, match=r"^missing --checkpoint, --output \(required\)"):
        main(["--sparsity", "0.5"])


@pytest.mark.parametrize("sparsity", ["1.0", "-0.1", "2"])
def test_sparsity_out_of_range(dae_ckpt: Path, tmp_path: Path, sparsity: str) -> None:
    with pytest.raises(UsageError, match="--sparsity"):
        main(
            [
                "--checkpoint",
                str(dae_ckpt),
                "--sparsity",
                sparsity,
                "--output",
                str(tmp_path / "t.pt"),
            ]
        )
    assert not list(tmp_path.iterdir())


def bad_checkpoints(folder: Path, dae_ckpt: Path) -> dict[str, tuple[Path, str]]:
    corrupt = folder / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint at all")
    foreign = folder / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, foreign)
    unknown = folder / "unknown_model.ckpt"
    checkpoint = torch.load(dae_ckpt, map_location="cpu", weights_only=False)
    checkpoint["fl_lightning"]["model"] = "resnet152"
    torch.save(checkpoint, unknown)
    return {
        "missing": (folder / "nope.ckpt", "no such file"),
        "corrupt": (corrupt, "not a readable checkpoint"),
        "foreign": (foreign, "not a DAE checkpoint"),
        "unknown model": (unknown, "resnet152"),
    }


@pytest.mark.parametrize("case", ["missing", "corrupt", "foreign", "unknown model"])
def test_bad_checkpoint(dae_ckpt: Path, tmp_path: Path, case: str) -> None:
    path, match = bad_checkpoints(tmp_path, dae_ckpt)[case]
    with pytest.raises(UsageError, match=match) as error:
        main(["--checkpoint", str(path), "--sparsity", "0.5", "--output", str(tmp_path / "t.pt")])
    assert "--checkpoint" in str(error.value)


def test_output_that_cannot_be_written(dae_ckpt: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    (tmp_path / "dir.pt").mkdir()
    (tmp_path / "clash.json").mkdir()
    cases = {
        str(a_file / "ticket.pt"): "is a file",
        str(a_file / "deeper" / "ticket.pt"): "is a file",
        str(tmp_path / "dir.pt"): "is a directory",
        str(tmp_path / "clash.pt"): "is a directory",  # its report would be a directory
        str(tmp_path / "ticket.json"): "JSON report",
    }
    for output, match in cases.items():
        with pytest.raises(UsageError, match=match) as error:
            main(["--checkpoint", str(dae_ckpt), "--sparsity", "0.5", "--output", output])
        assert "--output" in str(error.value)


def test_a_failure_leaves_the_existing_ticket_intact(
    dae_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "ticket.pt"
    main(["--checkpoint", str(dae_ckpt), "--sparsity", "0.5", "--output", str(output), *NO_WB])
    before = output.read_bytes(), output.with_suffix(".json").read_bytes()

    with pytest.raises(UsageError):  # a bad checkpoint: nothing is written
        main(
            [
                "--checkpoint",
                str(tmp_path / "nope.ckpt"),
                "--sparsity",
                "0.9",
                "--output",
                str(output),
            ]
        )

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", crash)  # a crash in the middle of writing
    with pytest.raises(OSError, match="disk full"):
        main(["--checkpoint", str(dae_ckpt), "--sparsity", "0.9", "--output", str(output), *NO_WB])
    assert (output.read_bytes(), output.with_suffix(".json").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ticket.json",
        "ticket.pt",
    ]  # no temp files


def test_prune_replaces_only_a_ticket_it_wrote(dae_ckpt: Path, tmp_path: Path) -> None:
    """Never the checkpoint it reads (however named), never a file of someone else's; an
    earlier ticket and its report are replaced (prune again with another sparsity)."""
    ckpt = tmp_path / "dae.ckpt"
    ckpt.write_bytes(dae_ckpt.read_bytes())
    as_json = tmp_path / "dae.json"  # a checkpoint that a ticket's report would replace
    as_json.write_bytes(dae_ckpt.read_bytes())
    (tmp_path / "hard.pt").hardlink_to(ckpt)
    (tmp_path / "notes.pt").write_text("my notes\n")
    (tmp_path / "summary.json").write_text('{"method": "fedavg"}\n')  # a run's, say
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cases = [
        (ckpt, ckpt, "' is --checkpoint='.*', the file it prunes"),
        (ckpt, tmp_path / "sub" / ".." / "dae.ckpt", "' is --checkpoint="),
        (ckpt, tmp_path / "hard.pt", "' is --checkpoint="),
        (as_json, tmp_path / "dae.pt", "dae.json' would replace --checkpoint="),
        (ckpt, tmp_path / "notes.pt", "exists and is not a ticket written by `fl-lightning prune`"),
        (ckpt, tmp_path / "summary.pt", "its report '"),
    ]
    (tmp_path / "sub").mkdir()
    for checkpoint, output, match in cases:
        with pytest.raises(UsageError, match=match) as error:
            main(["--checkpoint", str(checkpoint), "--sparsity", "0.5", "--output", str(output)])
        assert str(error.value).startswith(f"--output={str(output)!r}")
    (tmp_path / "sub").rmdir()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert file_sha256(ckpt) == file_sha256(dae_ckpt)

    ticket = tmp_path / "ticket.pt"
    for sparsity in ("0.5", "0.9"):
        main(["--checkpoint", str(ckpt), "--sparsity", sparsity, "--output", str(ticket), *NO_WB])
    assert Ticket.load(ticket).mask.density == pytest.approx(0.1, abs=1e-3)
    assert json.loads(ticket.with_suffix(".json").read_text())["sparsity"] == pytest.approx(0.9)


#: DAE checkpoints a developer pre-trained in this checkout (`make pretrain`), if any
_RUNS = Path(__file__).resolve().parents[2] / "runs" / "pretrain"
REAL_CHECKPOINTS = sorted(
    glob.glob(str(_RUNS / "**" / "dae.ckpt"), recursive=True)
    + glob.glob(str(_RUNS / "**" / "last.ckpt"), recursive=True)
)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_CHECKPOINTS, reason="no pre-trained checkpoint under runs/")
@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.9, 0.95])
def test_real_checkpoint_densities(sparsity: float) -> None:
    ticket = make_ticket(REAL_CHECKPOINTS[-1], sparsity)
    assert ticket.mask.num_kept == round((1 - sparsity) * ticket.mask.num_total)
