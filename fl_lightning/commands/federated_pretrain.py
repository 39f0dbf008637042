"""`fl-lightning pretrain --federated`: DAE pre-training by FedAvg on the clients' own images.

    fl-lightning pretrain --federated --config configs/pretrain/federated_fashion_mnist.yaml \
        [--federation.rounds N] [--federation.clients_per_round K] [--client.local_epochs E] \
        [--engine local|flower] [--flower.*] [--wandb.enabled/project/name/group] \
        [--seed S] [--output DIR] [--resume]

The options are those of `federate` that a DAE has (`--data.*`, `--client.*`, `--federation.*`,
`--seeds.*`, `--engine`, `--flower.*`, `--wandb.*`) plus the DAE's own (`--model.*`: model,
noise, noise_std, mask_prob, optimizer, lr, weight_decay). `data.server_images` must stay 0: the
clients keep every image. Writes DIR/dae.ckpt (prune and federate take it as a server
pre-training's), metrics.csv, summary.json, config.yaml, checkpoint.pt (for --resume) and an
offline W&B run under DIR/wandb/ (rounds, summary, dae.ckpt as an Artifact).
"""

from __future__ import annotations

import time
from typing import Literal

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from fl_lightning.app.federate_checks import filled_seeds
from fl_lightning.app.federated_pretraining import (
    FederatedPretrainConfig,
    federated_pretrain,
)
from fl_lightning.commands.printed_paths import absolute_paths_for_print
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.config import SEED_SOURCES, FederationConfig, Seeds
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.progress import human_bytes
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.parsers.config_keys import check_config_args
from fl_lightning.parsers.flags import bool_options, expand_bare_flags
from fl_lightning.parsers.parse_errors import parse_args
from fl_lightning.recorded_paths import recorded_config_text
from fl_lightning.tracking.wandb_options import WandbConfig

DESCRIPTION = (
    "Pre-train the classifier's feature extractor as a denoising autoencoder by FedAvg over the "
    "clients' own (unlabeled) training images: no server data. Every byte, client FLOP and "
    "second is counted. Writes DIR/dae.ckpt (input of `fl-lightning prune` and `federate "
    "--checkpoint`), metrics.csv, summary.json, config.yaml and checkpoint.pt."
)
#: The flag of `fl-lightning pretrain` that selects this command.
FLAG = "--federated"


def build_parser() -> ArgumentParser:
    """The parser of `fl-lightning pretrain --federated` (also its YAML's schema)."""
    parser = ArgumentParser(prog="fl-lightning pretrain --federated", description=DESCRIPTION)
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="YAML config.")
    parser.add_argument(
        "--output",
        type=str | None,
        default=None,
        help="Run folder (default: runs/pretrain/federated-<date-time>).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Base seed for every unset --seeds.*.")
    parser.add_argument("--seeds", type=Seeds, default=Seeds())
    parser.add_argument(
        "--resume",
        type=bool,
        default=False,
        help="Continue the run in --output from its checkpoint.pt.",
    )
    parser.add_argument(
        "--progress", type=bool, default=True, help="Show a progress bar / a line per round."
    )
    # the clients' batches are client.batch_size; the server keeps no images
    parser.add_class_arguments(FederatedDataModule, "data", skip={"batch_size"}, instantiate=False)
    parser.set_defaults({"data.server_images": 0})
    parser.add_class_arguments(
        DAEPretrainer, "model", skip={"dataset", "images_to_log"}, instantiate=False
    )
    parser.add_argument("--client", type=ClientConfig, default=ClientConfig())
    parser.add_argument("--federation", type=FederationConfig, default=FederationConfig())
    parser.add_argument(
        "--engine",
        type=Literal["local", "flower"],
        default="local",
        help="local: one process; flower: Flower's simulation engine (Ray), the same bytes.",
    )
    parser.add_argument(
        "--flower",
        type=FlowerOptions,
        default=FlowerOptions(),
        help="Flower settings (with --engine flower): client resources, timeouts.",
    )
    parser.add_argument(
        "--wandb",
        type=WandbConfig,
        default=WandbConfig(),
        help="W&B run (offline unless WANDB_MODE says otherwise; name default: "
        "federated_dae-seed<seeds.init>).",
    )
    return parser


def main(argv: list[str]) -> None:
    """Parse `argv`, run the federated pre-training, print where it went."""
    parser = build_parser()
    argv = expand_bare_flags(argv, bool_options(parser))
    check_config_args(argv, parser.get_defaults())
    argv = absolute_paths_for_print(argv, cwd_relative=("data.root",))
    cfg = parse_args(parser, argv)
    if cfg.output is None:
        cfg.output = f"runs/pretrain/federated-{time.strftime('%Y%m%d-%H%M%S')}"
    fill_seeds(cfg)  # as `federate`: one seed per source, the split's in one home
    saved = cfg.clone()
    saved.resume = False  # config.yaml describes the run, not how this part was started
    text = recorded_config_text(parser.dump(saved, skip_none=False))
    init = parser.instantiate_classes(cfg)
    outcome = federated_pretrain(
        FederatedPretrainConfig(
            output=cfg.output,
            data=cfg.data.as_dict(),
            model=cfg.model.as_dict(),
            client=init.client,
            federation=init.federation,
            seeds=init.seeds,
            engine=cfg.engine,
            flower=init.flower,
            wandb=init.wandb,
            resume=cfg.resume,
            progress=cfg.progress,
            config_text=text,
        )
    )
    cost = outcome.summary["federated_pretraining"]
    loss = (
        outcome.summary["history"][-1].get("test/recon_loss")
        if outcome.summary["history"]
        else None
    )
    shown = f"; test/recon_loss {loss:.4f}" if loss is not None else ""
    print(
        f"federated pre-training: {cost['rounds']} rounds of {cost['clients_per_round']} clients"
        f"{shown}; traffic {human_bytes(cost['total_bytes'])} (down "
        f"{human_bytes(cost['down_bytes'])}, up {human_bytes(cost['up_bytes'])}); client "
        f"compute {cost['client_flops']:.3g} FLOPs, {cost['client_seconds']:.0f} s"
    )
    print(f"checkpoint: {outcome.checkpoint}")
    print(f"results:    {outcome.checkpoint.parent}/ (metrics.csv, summary.json, config.yaml)")
    runs = sorted((outcome.checkpoint.parent / "wandb").glob("*run-*"))
    if runs:
        print(f"W&B run:    {runs[-1]}  (upload with `wandb sync {runs[-1]}`)")


def fill_seeds(cfg: Namespace) -> None:
    """Set every `cfg.seeds.*` and `data.split_seed` of a parsed Namespace (`filled_seeds`), in
    place (`fl-lightning pretrain --federated`)."""
    seeds = filled_seeds(Seeds(**vars(cfg.seeds)), cfg.seed, cfg.data.split_seed)
    for source in SEED_SOURCES:
        cfg.seeds[source] = seeds.of(source)
    cfg.data.split_seed = seeds.split
