"""The parser of `fl-lightning federate`: the schema of configs/federate/*.yaml.

`build_parser` is the command's parser (its `--help` is what users read). `parse_federate`
reads a YAML file, command-line style arguments and values through it into a plain nested
tree of values, the input of `FederateConfig.from_dict`: the commands and the Python API's
`fl.federate_config` both build their typed config from that tree, so the two cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace  # type: ignore[attr-defined, unused-ignore]

from fl_lightning.config_paths import resolve_config_path
from fl_lightning.console import VERBOSE_HELP
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.experiments.methods import method_names
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.config import FederationConfig, Seeds
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.models.classifier import Classifier
from fl_lightning.parsers.config_builder import build_config, config_files
from fl_lightning.parsers.one_home import argv_sources, file_source, one_home, values_source
from fl_lightning.tracking.wandb_options import WandbConfig

#: Keys of a parsed Namespace that are how it was read, not options (`--config` files).
PARSE_KEYS = ("config", "__path__")

DESCRIPTION = (
    "Run FedAvg over simulated clients starting from one method's model (see --method), "
    "counting the bytes of every real payload, the clients' FLOPs and seconds. Outputs go to "
    "--output: metrics.csv, summary.json, config.yaml, model.pt, checkpoint.pt, wandb/."
)


def build_parser() -> ArgumentParser:
    """The `fl-lightning federate` parser (also the schema of configs/federate/*.yaml)."""
    parser = ArgumentParser(prog="fl-lightning federate", description=DESCRIPTION)
    parser.add_argument(
        "-c", "--config", action=ActionConfigFile, help="YAML config (configs/federate/)."
    )
    parser.add_argument(
        "--method",
        type=Literal[method_names()],
        default="proposed",
        help="Starting point and mask: " + ", ".join(method_names()) + ".",
    )
    parser.add_argument(
        "--engine",
        type=Literal["local", "flower"],
        default="local",
        help="local: one process; flower: Flower's simulation engine (Ray).",
    )
    parser.add_argument(
        "--ticket",
        type=str | None,
        default=None,
        help=(
            "A `fl-lightning prune` ticket: the start of proposed (random_prune copies its "
            "densities); a --structure channel one the start of proposed_structured "
            "(random_structured copies its widths)."
        ),
    )
    parser.add_argument(
        "--checkpoint",
        type=str | None,
        default=None,
        help="A `fl-lightning pretrain` DAE checkpoint (methods that need one).",
    )
    parser.add_argument(
        "--sparsity",
        type=float | None,
        default=0.9,
        help="Fraction of prunable weights removed by the pruned methods, in [0, 1); with "
        "--ticket the ticket's own (it is the mask) is used and recorded; the dense methods "
        "(fedavg, dae_dense) ignore it and record none.",
    )
    parser.add_argument(
        "--scope",
        type=Literal["global", "layer"],
        default="global",
        help="Magnitude threshold over all prunable tensors (global) or per layer.",
    )
    parser.add_argument(
        "--rounds",
        type=int | None,
        default=None,
        help="Rounds to run (overrides federation.rounds).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Base seed for every unset --seeds.*.")
    parser.add_argument("--seeds", type=Seeds, default=Seeds())
    parser.add_argument(
        "--output",
        type=str | None,
        default=None,
        help="Run folder (default: runs/federate/<method>-<date-time>).",
    )
    parser.add_argument(
        "--resume",
        type=bool,
        default=False,
        help="Continue the run in --output from its checkpoint.pt (bare --resume, or "
        "--resume true/false, --no_resume).",
    )
    parser.add_argument(
        "--progress",
        type=bool,
        default=True,
        help="Show progress: a bar on a terminal, one line per round otherwise (--no_progress: "
        "nothing).",
    )
    parser.add_argument("--verbose", type=bool, default=False, help=VERBOSE_HELP)
    # clients train with client.batch_size: the module's own batch_size would be ignored
    parser.add_class_arguments(FederatedDataModule, "data", skip={"batch_size"})
    # The model options are Classifier's own arguments (documented and checked there); its
    # dataset is data.dataset and a structured ticket sets its widths. Built by `federate`.
    parser.add_class_arguments(
        Classifier, "model", skip={"dataset", "dae_checkpoint", "widths"}, instantiate=False
    )
    parser.add_argument("--client", type=ClientConfig, default=ClientConfig())
    parser.add_argument("--federation", type=FederationConfig, default=FederationConfig())
    parser.add_argument(
        "--pretrain_config",
        type=str,
        default="configs/pretrain/fashion_mnist.yaml",
        help="Pre-training config used when a DAE is needed and none is given.",
    )
    parser.add_argument(
        "--pretrain_overrides",
        type=list[str],
        default=[],
        help="Extra `fl-lightning pretrain` arguments, e.g. ['--trainer.max_epochs=2'].",
    )
    parser.add_argument("--wandb", type=WandbConfig, default=WandbConfig())
    parser.add_argument(
        "--provenance",
        type=dict[str, Any] | None,
        default=None,
        help="Written by federate into config.yaml, ignored on input: where the starting "
        "weights came from (checkpoint path, sha256, held-out images, split seed).",
    )
    parser.add_argument(
        "--flower",
        type=FlowerOptions,
        default=FlowerOptions(),
        help="Flower settings (with --engine flower): client resources, timeouts.",
    )
    return parser


def federate_tree(cfg: Namespace) -> dict[str, Any]:
    """A parse of `build_parser` as the nested plain tree `FederateConfig.from_dict` takes: a
    path in a YAML, such as `pretrain_config`, is found beside that YAML first (as the command
    finds it); the `--config` files read are kept under `config` (a tuple of paths)."""
    tree: dict[str, Any] = {k: v for k, v in cfg.as_dict().items() if k not in PARSE_KEYS}
    read = config_files(cfg)
    if isinstance(tree.get("pretrain_config"), str) and read:
        tree["pretrain_config"] = resolve_config_path(
            tree["pretrain_config"], "pretrain_config", read
        )
    files = cfg.get("config")
    if files:
        tree["config"] = tuple(os.fspath(p) for p in files)
    return tree


def parse_federate(
    config: str | Path | None = None,
    args: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`config` (YAML; None: the defaults), then `args`, then `values`, parsed as
    `fl-lightning federate --config CONFIG ARGS` would, as a `federate_tree` with each fact in
    one home (`one_home`); a mistake raises `UsageError` (never `SystemExit`)."""
    parser = build_parser()
    parser.exit_on_error = False
    tree = federate_tree(build_config(parser, "federate", config, args, values))
    if config is not None and not Path(config).is_file():  # found as build_config found it
        config = resolve_config_path(str(config), "federate_config(config)")
    sources = [
        *file_source(config, "federate config"),
        *argv_sources(args, "args"),
        *values_source(values),
    ]
    return one_home(tree, sources)


def command_line_tree(cfg: Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """`federate_tree` of the parse of `argv` (the command's), each fact in one home."""
    return one_home(federate_tree(cfg), argv_sources(argv))
