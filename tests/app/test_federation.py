"""`app.federation`: what `federate` derives from its config before and after the rounds."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from fl_lightning.app.federate_groups import DataOptions, ModelOptions
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federation import (
    check_deployment_resume,
    ensure_checkpoint,
    interrupted_detail,
    make_transport,
    pretrain_config_for,
    summary_lines,
    typed_config,
)
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError
from fl_lightning.federated.config import FederationConfig, Seeds
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.federated.transport import InProcess
from fl_lightning.interrupts import Interrupted
from fl_lightning.tracking.wandb_options import WandbConfig

SMOKE_PRETRAIN = resolve_config_path("configs/pretrain/smoke.yaml", "test")


def test_the_pretraining_of_a_federation_holds_out_what_its_clients_do_not_see(
    tmp_path: Path,
) -> None:
    config = FederateConfig(
        data=DataOptions(dataset="mnist", root="data", server_images=500, split_seed=4),
        model=ModelOptions(model="mlp"),
        seeds=Seeds(split=4, init=9),
        pretrain_config=SMOKE_PRETRAIN,
        pretrain_overrides=("--trainer.max_epochs=1",),
        wandb=WandbConfig(enabled=False),
    )
    pretraining = pretrain_config_for(config, tmp_path / "pretrain")
    assert pretraining.config == SMOKE_PRETRAIN and pretraining.output == str(tmp_path / "pretrain")
    assert dict(pretraining.settings) == {
        "data.dataset": "mnist",
        "data.num_images": 500,  # the server's hold-out: the images no client gets
        "data.split_seed": 4,
        "model.model": "mlp",
        "seed_everything": 9,  # seeds.init
        "data.root": "data",
        "trainer.logger": False,  # wandb.enabled false: no W&B logger in the pre-training either
    }
    assert tuple(pretraining.args) == ("--trainer.max_epochs=1",)
    logged = pretrain_config_for(FederateConfig(pretrain_config=SMOKE_PRETRAIN), tmp_path)
    assert "trainer.logger" not in logged.settings and "data.root" not in logged.settings


def test_a_missing_pretraining_config_is_named() -> None:
    with pytest.raises(UsageError, match="--pretrain_config"):
        pretrain_config_for(FederateConfig(pretrain_config="nowhere.yaml"), Path("out"))


def test_a_method_with_a_federated_dae_is_not_pretrained_on_the_server(tmp_path: Path) -> None:
    config = FederateConfig(method="proposed_fdae")
    with pytest.raises(UsageError, match=r"--method=proposed_fdae needs --checkpoint"):
        ensure_checkpoint(config, RunFiles(tmp_path))
    assert not (tmp_path / "pretrain").exists()
    given = FederateConfig(method="proposed_fdae", checkpoint="dae.ckpt")
    assert ensure_checkpoint(given, RunFiles(tmp_path)) == "dae.ckpt"


def test_federate_takes_only_its_typed_config() -> None:
    config = FederateConfig()
    assert typed_config(config) is config
    with pytest.raises(UsageError, match=r"federate\(cfg=None\): allowed the config"):
        typed_config(None)
    with pytest.raises(UsageError, match=r"federate\(cfg=\{'rounds': 2\}\).*not a dict"):
        typed_config({"rounds": 2})
    with pytest.raises(UsageError, match=r"not a federate config \(a Seeds\)"):
        typed_config(Seeds())


def test_error_feedback_cannot_resume_on_a_deployment() -> None:
    check_deployment_resume(FederationConfig())
    with pytest.raises(UsageError, match="error_feedback=true on a Flower deployment"):
        check_deployment_resume(FederationConfig(error_feedback=True, up_codec="int8"))


def test_the_local_engine_runs_in_process() -> None:
    assert isinstance(make_transport("local"), InProcess)


def test_an_interruption_says_where_it_stopped_and_how_to_go_on(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    detail = interrupted_detail(files, Interrupted(signal.SIGINT))
    assert detail == (
        "interrupted at round 1 (SIGINT); no checkpoint was written yet; resume with the same "
        "command and --resume true."
    )


def test_the_summary_in_a_few_lines(tmp_path: Path) -> None:
    summary = {
        "method": "proposed",
        "rounds": 3,
        "final_test_acc": 0.81234,
        "best_test_acc": 0.82,
        "total_bytes": 1_536_000,
        "down_bytes": 1_000_000,
        "up_bytes": 536_000,
        "client_flops": 123456789.0,
        "client_seconds": 12.4,
        "density": 0.1,
    }
    first, second = summary_lines(summary, tmp_path)
    assert first == (
        "proposed: 3 rounds, final test/acc 0.8123, best 0.8200; traffic 1.5 MB (down 1.0 MB, "
        "up 536.0 KB); client compute 1.23e+08 FLOPs, 12 s; density 0.100"
    )
    assert second.startswith(f"results: {tmp_path}/ (metrics.csv, summary.json")
    no_eval = summary_lines({**summary, "final_test_acc": None}, tmp_path)[0]
    assert no_eval == "proposed: 3 rounds, no evaluation"
