"""`fl-lightning federate`: FedAvg of one method's (sparse) model, every byte, FLOP and second counted.

    fl-lightning federate --config configs/federate/fashion_mnist.yaml \
        [--method proposed] [--ticket T] [--checkpoint CKPT] [--rounds N] [--seed S] \
        [--output DIR] [--resume] [--engine local|flower]

Writes DIR/metrics.csv, summary.json, config.yaml, model.pt, checkpoint.pt and an offline W&B
run. A method that needs a DAE and gets neither `--checkpoint` nor `--ticket` pre-trains one
first (`pretrain_config`, into DIR/pretrain/), on the same server hold-out as the clients' split.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from fl_lightning.atomic import check_can_create
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.experiments.methods import METHODS, PRUNED, build_start, needs_checkpoint
from fl_lightning.federated.client import ClientConfig, lean_trainer
from fl_lightning.federated.engine import FederationConfig, FederationFailed, LocalEngine, Seeds
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.progress import human_bytes
from fl_lightning.federated.results import RunFiles
from fl_lightning.logging import TOTAL_BYTES, WandbRun, read_offline_run, use_offline_default
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import available_models

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
    parser.add_argument("--flower", type=FlowerOptions, default=FlowerOptions(),
                        help="Flower settings (with --engine flower): client resources, timeouts.")
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
    for key in ("split", "sampling", "init", "data_order"):
        if cfg.seeds[key] < 0:
            raise UsageError(f"--seeds.{key}={cfg.seeds[key]!r} (or --seed) must be >= 0.")
    check_choice("model.model", cfg.model.model, available_models())
    if not cfg.model.lr > 0:
        raise UsageError(f"model.lr={cfg.model.lr!r} must be > 0.")
    check_range("model.momentum", cfg.model.momentum, 0.0, 1.0)
    if cfg.model.weight_decay < 0:
        raise UsageError(f"model.weight_decay={cfg.model.weight_decay!r} must be >= 0.")
    for option in ("local_epochs", "batch_size"):
        if cfg.client[option] < 1:
            raise UsageError(f"client.{option}={cfg.client[option]!r} must be >= 1.")
    if cfg.client.timeout is not None and not cfg.client.timeout > 0:
        raise UsageError(
            f"client.timeout={cfg.client.timeout!r} must be > 0 seconds (or null for no limit)."
        )
    if cfg.method not in PRUNED and cfg.ticket:
        raise UsageError(f"--ticket is for the pruned methods; --method={cfg.method} is dense.")
    for option in ("ticket", "checkpoint"):
        value = cfg[option]
        if value and not Path(value).is_file():
            raise UsageError(f"--{option}={value!r}: no such file.")
    return cfg


def check_output(files: RunFiles, resume: bool) -> dict[str, Any] | None:
    """Refuse an output that cannot be written, or one whose run would be overwritten.

    Creates nothing (a probe folder is made and removed in the nearest existing parent); returns
    the checkpoint to continue from with `resume`, else None.
    """
    output = str(files.dir)
    if files.dir.exists() and not files.dir.is_dir():
        raise UsageError(f"--output={output!r} exists and is not a folder; choose a folder.")
    check_can_create(files.dir, "--output")
    if resume:
        return files.read_checkpoint()
    if files.checkpoint.exists():
        raise UsageError(
            f"--output={output!r} already holds a federation run (checkpoint.pt): pass "
            "--resume to continue it, or choose another --output."
        )
    return None


#: Options that may differ when a run is resumed: where and how it shows, not what it computes.
RESUMABLE_OPTIONS = (
    "output", "resume", "progress", "rounds", "federation.rounds", "wandb.", "flower.",
    "data.root", "pretrain_config", "pretrain_overrides",
)


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flat(value, f"{prefix}{key}."))
    return {k.removesuffix("."): v for k, v in flat.items()}


def check_resume_config(files: RunFiles, config_text: str) -> None:
    """`--resume` must continue a run with the options it started with (bar `RESUMABLE_OPTIONS`)."""
    if not files.config.is_file():
        return
    saved = _flat(yaml.safe_load(files.config.read_text()) or {})
    now = _flat(yaml.safe_load(config_text) or {})
    changed = [
        key
        for key in sorted(saved.keys() | now.keys())
        if saved.get(key) != now.get(key) and not key.startswith(RESUMABLE_OPTIONS)
    ]
    if changed:
        shown = ", ".join(f"{k}={now.get(k)!r} (was {saved.get(k)!r})" for k in changed[:4])
        raise UsageError(
            f"--resume: options differ from the run in {str(files.dir)!r}: {shown}"
            f"{' ...' if len(changed) > 4 else ''}; resume with its options (--config "
            f"{files.config} --resume true) or start a new run in another --output."
        )


def check_accelerator(client: ClientConfig) -> None:
    """`UsageError` unless a client Trainer can be built with `client.accelerator` here."""
    try:
        lean_trainer(client, [])
    except Exception as err:  # Lightning's MisconfigurationException, ValueError, ...
        raise UsageError(
            f"client.accelerator={client.accelerator!r} cannot be used on this machine ({err})."
        ) from None


def _wandb_run_id(directory: Path) -> str | None:
    """The id of the W&B run that an earlier part of the run in `directory` logged to."""
    runs = sorted(
        p for p in (directory / "wandb").glob("*run-*-*") if p.is_dir() and not p.is_symlink()
    )
    return runs[0].name.rsplit("-", 1)[-1] if runs else None


def _wandb_rounds(directory: Path, run_id: str | None) -> set[int]:
    """Rounds that earlier parts of W&B run `run_id` wrote to disk (a killed one may have none)."""
    rounds: set[int] = set()
    for part in (directory / "wandb").glob(f"*run-*-{run_id}"):
        try:
            history = read_offline_run(part)["history"]
        except Exception:  # a part killed mid-write reads as far as it can, or not at all
            continue
        rounds.update(int(row["round"]) for row in history if TOTAL_BYTES in row)
    return rounds


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
    resumed = check_output(files, cfg.resume)
    saved_cfg = cfg.clone()
    saved_cfg.resume = False  # config.yaml describes the run, not how this part was started
    config_text = parser.dump(saved_cfg, skip_none=False)
    if resumed is not None:
        check_resume_config(files, config_text)
    init = parser.instantiate_classes(cfg)
    data: FederatedDataModule = init.data
    data.setup()
    federation: FederationConfig = init.federation
    federation.validate(data.num_clients)
    model_cfg: ModelConfig = init.model
    if cfg.engine == "local":
        check_accelerator(init.client)
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
        wandb=None,
        progress=cfg.progress,
        flower=init.flower,
    )
    if resumed is not None:
        engine.load_state_dict(resumed)  # refuses a mismatch before anything is written
    # Every check is done: from here on, files are written.
    files.check_writable()
    if resumed is not None:
        files.remove_stale_temporaries()
    files.write_config(config_text)
    use_offline_default()
    run_id = _wandb_run_id(files.dir) if resumed is not None else None
    logged = _wandb_rounds(files.dir, run_id) if run_id else set()
    wandb = WandbRun(
        enabled=cfg.wandb.enabled,
        project=cfg.wandb.project,
        name=cfg.wandb.name or f"{cfg.method}-seed{cfg.seed}",
        group=cfg.wandb.group,
        save_dir=files.dir,
        config=cfg.as_dict(),
        run_id=run_id,
    )
    for row in engine.history:  # rounds that a killed process never flushed to W&B
        if row["round"] not in logged:
            wandb.log(row)
    engine.wandb = wandb
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


def make_engine(engine: str, flower: FlowerOptions | None = None, **kwargs: Any) -> LocalEngine:
    """The engine named `engine` (`local` or `flower`) over the same arguments.

    `flower` holds the Flower engine's own settings (ignored by the local engine).
    """
    if engine == "flower":
        from fl_lightning.federated.flower import FlowerEngine

        return FlowerEngine(options=flower, **kwargs)
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
