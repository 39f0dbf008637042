"""`fl-lightning federate`: FedAvg of one method's (sparse) model, every byte, FLOP and second counted.

    fl-lightning federate --config configs/federate/fashion_mnist.yaml \
        [--method proposed] [--ticket T] [--checkpoint CKPT] [--rounds N] [--seed S] \
        [--output DIR] [--resume] [--engine local|flower]

Writes DIR/metrics.csv, summary.json, config.yaml, model.pt, checkpoint.pt and an offline W&B
run. A method that needs a DAE and gets neither `--checkpoint` nor `--ticket` pre-trains one
first (`pretrain_config`, into DIR/pretrain/), on the same server hold-out as the clients' split.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError, check_range
from fl_lightning.experiments.methods import METHODS, PRUNED, build_start, needs_checkpoint
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.engine import FederationConfig, FederationFailed, LocalEngine, Seeds
from fl_lightning.federated.progress import human_bytes
from fl_lightning.federated.results import RunFiles
from fl_lightning.logging import WandbRun, use_offline_default
from fl_lightning.models.classifier import Classifier

DESCRIPTION = (
    "Run FedAvg over simulated clients starting from one method's model (see --method), "
    "counting the bytes of every real payload, the clients' FLOPs and seconds. Outputs go to "
    "--output: metrics.csv, summary.json, config.yaml, model.pt, checkpoint.pt, wandb/."
)


@dataclass(frozen=True)
class ModelConfig:
    """The classifier and its local optimiser.

    Args:
        model: encoder architecture (`cnn`, `mlp`); must match a given checkpoint or ticket.
        optimizer: local optimiser: `sgd`, `adam` or `adamw`.
        lr: local learning rate.
        momentum: SGD momentum (the optimiser state is fresh every round, as in FedAvg).
        weight_decay: weight decay.
    """

    model: str = "cnn"
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class SeedOverrides:
    """Per-source seeds; each unset one takes `--seed`.

    Args:
        split: server hold-out and client partition (sets data.split_seed).
        sampling: which clients take part in each round.
        init: random initialisation (and every method's output layer).
        data_order: each client's batch order in each round.
    """

    split: int | None = None
    sampling: int | None = None
    init: int | None = None
    data_order: int | None = None


@dataclass(frozen=True)
class WandbConfig:
    """W&B logging (offline unless WANDB_MODE says otherwise).

    Args:
        enabled: log this federation to one W&B run.
        project: W&B project.
        group: W&B group (compare puts one comparison in one group).
        name: run name (default: `<method>-seed<seed>`).
    """

    enabled: bool = True
    project: str = "fl-lightning"
    group: str | None = None
    name: str | None = None


def build_parser() -> ArgumentParser:
    """The `fl-lightning federate` parser (also the schema of configs/federate/*.yaml)."""
    parser = ArgumentParser(prog="fl-lightning federate", description=DESCRIPTION)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML config (configs/federate/).")
    parser.add_argument("--method", type=Literal[METHODS], default="proposed",  # type: ignore[valid-type]
                        help="Starting point and mask: " + ", ".join(METHODS) + ".")
    parser.add_argument("--engine", type=Literal["local", "flower"], default="local",
                        help="local: one process; flower: Flower's simulation engine (Ray).")
    parser.add_argument("--ticket", type=str | None, default=None,
                        help="A `fl-lightning prune` ticket (proposed; random_prune copies its densities).")
    parser.add_argument("--checkpoint", type=str | None, default=None,
                        help="A `fl-lightning pretrain` DAE checkpoint (methods that need one).")
    parser.add_argument("--sparsity", type=float, default=0.9,
                        help="Fraction of prunable weights removed by the pruned methods, in [0, 1).")
    parser.add_argument("--scope", type=Literal["global", "layer"], default="global",
                        help="Magnitude threshold over all prunable tensors (global) or per layer.")
    parser.add_argument("--rounds", type=int | None, default=None,
                        help="Rounds to run (overrides federation.rounds).")
    parser.add_argument("--seed", type=int, default=0, help="Base seed for every unset --seeds.*.")
    parser.add_argument("--seeds", type=SeedOverrides, default=SeedOverrides())  # type: ignore[arg-type]
    parser.add_argument("--output", type=str | None, default=None,
                        help="Run folder (default: runs/federate/<method>-<date-time>).")
    parser.add_argument("--resume", type=bool, default=False,
                        help="Continue the run in --output from its checkpoint.pt.")
    parser.add_argument("--progress", type=bool, default=True, help="Show a progress bar.")
    parser.add_class_arguments(FederatedDataModule, "data")
    parser.add_argument("--model", type=ModelConfig, default=ModelConfig())
    parser.add_argument("--client", type=ClientConfig, default=ClientConfig())
    parser.add_argument("--federation", type=FederationConfig, default=FederationConfig())
    parser.add_argument("--pretrain_config", type=str, default="configs/pretrain/fashion_mnist.yaml",
                        help="Pre-training config used when a DAE is needed and none is given.")
    parser.add_argument("--pretrain_overrides", type=list[str], default=[],
                        help="Extra `fl-lightning pretrain` arguments, e.g. ['--trainer.max_epochs=2'].")
    parser.add_argument("--wandb", type=WandbConfig, default=WandbConfig())
    return parser


def resolve(cfg: Namespace) -> Namespace:
    """Fill in what defaults to other values (seeds, rounds, output); check ranges.

    Works on the parsed Namespace, so the config written to config.yaml is the resolved one.
    """
    for key in ("split", "sampling", "init", "data_order"):
        if cfg.seeds[key] is None:
            cfg.seeds[key] = cfg.seed
    cfg.data.split_seed = cfg.seeds.split
    if cfg.rounds is not None:
        cfg.federation.rounds = cfg.rounds
    cfg.rounds = cfg.federation.rounds
    if cfg.output is None:
        cfg.output = f"runs/federate/{cfg.method}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_range("--sparsity", cfg.sparsity, 0.0, 1.0)
    if cfg.method not in PRUNED and cfg.ticket:
        raise UsageError(f"--ticket is for the pruned methods; --method={cfg.method} is dense.")
    for option in ("ticket", "checkpoint"):
        value = cfg[option]
        if value and not Path(value).is_file():
            raise UsageError(f"--{option}={value!r}: no such file.")
    return cfg


def check_output(files: RunFiles, resume: bool) -> None:
    """Refuse an output that cannot be written, or one whose run would be overwritten."""
    parent = files.dir
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"--output={str(files.dir)!r} cannot be written (at {str(parent)!r}).")
    if resume:
        files.read_checkpoint()
    elif files.checkpoint.exists():
        raise UsageError(
            f"--output={str(files.dir)!r} already holds a federation run (checkpoint.pt): pass "
            "--resume to continue it, or choose another --output."
        )


def ensure_checkpoint(cfg: Namespace, files: RunFiles) -> str:
    """The DAE checkpoint for this run: given, or pre-trained into DIR/pretrain/ (once)."""
    if cfg.checkpoint:
        return str(cfg.checkpoint)
    out = files.dir / "pretrain"
    ckpt = out / "dae.ckpt"
    if not ckpt.is_file():
        from fl_lightning.commands import pretrain

        pretrain.main(pretrain_args(cfg, out))
    return str(ckpt)


def pretrain_args(cfg: Namespace, out: Path) -> list[str]:
    """`fl-lightning pretrain` arguments whose hold-out matches this run's client split."""
    if not Path(cfg.pretrain_config).is_file():
        raise UsageError(f"--pretrain_config={cfg.pretrain_config!r}: no such file.")
    args = [
        "--config", str(cfg.pretrain_config),
        "--output", str(out),
        f"--data.dataset={cfg.data.dataset}",
        f"--data.num_images={cfg.data.server_images}",
        f"--data.split_seed={cfg.data.split_seed}",
        f"--model.model={cfg.model.model}",
        f"--seed_everything={cfg.seeds.init}",
    ]
    if cfg.data.root:
        args.append(f"--data.root={cfg.data.root}")
    if not cfg.wandb.enabled:
        args.append("--trainer.logger=false")
    return args + list(cfg.pretrain_overrides)


def run(cfg: Namespace, parser: ArgumentParser | None = None) -> dict[str, Any]:
    """Run one federation from a parsed config; returns the summary (also in summary.json)."""
    parser = parser or build_parser()
    cfg = resolve(cfg)
    files = RunFiles(cfg.output)
    check_output(files, cfg.resume)
    config_text = parser.dump(cfg, skip_none=False)
    init = parser.instantiate_classes(cfg)
    data: FederatedDataModule = init.data
    data.setup()
    federation: FederationConfig = init.federation
    federation.validate(data.num_clients)
    model_cfg: ModelConfig = init.model
    checkpoint = ensure_checkpoint(cfg, files) if needs_checkpoint(cfg.method, cfg.ticket) else None
    start = build_start(
        cfg.method,
        model=model_cfg.model,
        dataset=cfg.data.dataset,
        init_seed=cfg.seeds.init,
        sparsity=cfg.sparsity,
        scope=cfg.scope,
        checkpoint=checkpoint,
        ticket=cfg.ticket,
    )
    model = Classifier(dataset=cfg.data.dataset, **asdict(model_cfg))
    files.check_writable()
    files.write_config(config_text)
    use_offline_default()
    wandb = WandbRun(
        enabled=cfg.wandb.enabled,
        project=cfg.wandb.project,
        name=cfg.wandb.name or f"{cfg.method}-seed{cfg.seed}",
        group=cfg.wandb.group,
        save_dir=files.dir,
        config=cfg.as_dict(),
    )
    try:
        engine = make_engine(
            cfg.engine,
            model=model,
            initial_state=start.state,
            mask=start.mask,
            data=data,
            client=init.client,
            federation=federation,
            seeds=Seeds(**vars(cfg.seeds)),
            method=cfg.method,
            files=files,
            wandb=wandb,
            progress=cfg.progress,
        )
        if cfg.resume:
            engine.load_state_dict(files.read_checkpoint())
        try:
            summary = engine.run()
        except FederationFailed as err:
            raise UsageError(str(err)) from None
    finally:
        wandb.finish()
    summary["provenance"] = start.provenance
    summary["seeds"] = vars(cfg.seeds)
    files.write_summary(summary)
    _print_summary(summary, files)
    return summary


def make_engine(engine: str, **kwargs: Any) -> LocalEngine:
    """The engine named `engine` (`local` or `flower`) over the same arguments."""
    if engine == "flower":
        from fl_lightning.federated.flower import FlowerEngine

        return FlowerEngine(**kwargs)
    return LocalEngine(**kwargs)


def _print_summary(summary: dict[str, Any], files: RunFiles) -> None:
    acc = summary["final_test_acc"]
    print(
        f"{summary['method']}: {summary['rounds']} rounds, final test/acc "
        f"{acc:.4f}, best {summary['best_test_acc']:.4f}; traffic {human_bytes(summary['total_bytes'])} "
        f"(down {human_bytes(summary['down_bytes'])}, up {human_bytes(summary['up_bytes'])}); "
        f"client compute {summary['client_flops']:.3g} FLOPs, {summary['client_seconds']:.0f} s; "
        f"density {summary['density']:.3f}"
        if acc is not None
        else f"{summary['method']}: {summary['rounds']} rounds, no evaluation"
    )
    print(f"results: {files.dir}/ (metrics.csv, summary.json, config.yaml, model.pt)")
    runs = sorted((files.dir / "wandb").glob("*run-*"))
    if runs:
        print(f"W&B run: {runs[-1]}  (upload with `wandb sync {runs[-1]}`)")


def main(argv: list[str]) -> None:
    """Parse `argv` and run the federation."""
    parser = build_parser()
    cfg = parser.parse_args(argv)
    run(cfg, parser)
