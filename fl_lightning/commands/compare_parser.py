"""The parser of `fl-lightning compare` (also the schema of configs/compare/*.yaml) and
`compare_config_of`, which turns its parse into the typed `CompareConfig` that `app.compare`
takes."""

from __future__ import annotations

import dataclasses
import os
from typing import Literal

from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from fl_lightning.app.compare_groups import CodecSpec, CompareWandb, PartitionSpec
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.grid_fdae import FdaeSpec
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.console import VERBOSE_HELP
from fl_lightning.experiments.equal_budget import DEFAULT_BUDGET_ROUNDS
from fl_lightning.experiments.grid_executors import ExecutorName, RayOptions
from fl_lightning.experiments.methods import method_names
from fl_lightning.experiments.report_options import ReportOptions
from fl_lightning.parsers.config_builder import config_files

DESCRIPTION = (
    "Run the methods side by side (every method x sparsity x partition x seed, through "
    "`fl-lightning federate`) and report the rounds, traffic, client FLOPs and client seconds "
    "each needs to reach the target accuracy. Writes --output/summary.md, summary.json, "
    "curves.csv, acc_vs_*.png and runs/<partition>/<method>[-s<sparsity>][+<codec>]/seed<S>/. "
    "Running the same command again reuses finished runs."
)


def build_parser() -> ArgumentParser:
    """The `fl-lightning compare` parser (also the schema of configs/compare/*.yaml)."""
    parser = ArgumentParser(prog="fl-lightning compare", description=DESCRIPTION)
    parser.add_argument(
        "-c", "--config", action=ActionConfigFile, help="YAML config (configs/compare/)."
    )
    parser.add_argument(
        "--federate_config",
        type=str,
        default="configs/federate/fashion_mnist.yaml",
        help="The federate YAML every run starts from.",
    )
    parser.add_argument(
        "--overrides",
        type=list[str],
        default=[],
        help="Extra federate arguments for every run, e.g. ['--rounds=20'].",
    )
    parser.add_argument(
        "--methods",
        type=list[Literal[method_names()]],  # type: ignore[misc]
        default=list(method_names()),
        help="Methods to compare: " + ", ".join(method_names()) + ".",
    )
    parser.add_argument(
        "--sparsities",
        type=list[float],
        default=[0.9],
        help="Sparsities of the pruned methods (dense methods run once).",
    )
    parser.add_argument(
        "--partitions",
        type=list[PartitionSpec],
        default=[PartitionSpec()],
        help="Client partitions, e.g. [{name: iid}, {name: dirichlet, alpha: 0.5}].",
    )
    parser.add_argument(
        "--codecs",
        type=list[CodecSpec],
        default=[],
        help="Codec axis: named settings, each run for its own methods beside the plain runs, "
        "e.g. [{name: int8, methods: [fedavg], overrides: ['--federation.down_codec=int8', "
        "'--federation.up_codec=int8']}]. Ratios stay against uncompressed fedavg.",
    )
    parser.add_argument(
        "--seeds",
        type=list[int],
        default=[0],
        help="Seeds; each sets the data split, client sampling and init seeds.",
    )
    parser.add_argument(
        "--row_seeds",
        type=dict[str, list[int]],
        default={},
        help="Rows that run only some of --seeds (to save time), e.g. {lth_rewind: [0], "
        "fedavg+int8: [0]}; a row is a method or method+codec setting. Their cells average "
        "their own seeds (summary.json's rows list them).",
    )
    parser.add_argument(
        "--target_acc",
        type=float | list[float],
        default=0.8,
        help="Target test accuracy (or a list of them), in (0, 1].",
    )
    parser.add_argument(
        "--budget_rounds",
        type=list[int],
        default=list(DEFAULT_BUDGET_ROUNDS),
        help="The equal-traffic table: each method's test accuracy at the traffic uncompressed "
        "fedavg spends in these many rounds (needs fedavg in --methods; [] for none).",
    )
    parser.add_argument(
        "--output",
        type=str,
        default="runs/compare/default",
        help="Folder of the comparison (runs/, pretrain/, summary.*, plots, label heatmaps).",
    )
    parser.add_argument(
        "--title",
        type=str | None,
        default=None,
        help="Heading of summary.md (default: the output folder's name).",
    )
    parser.add_argument(
        "--progress",
        type=bool,
        default=True,
        help="Show a live bar of the runs on a terminal (plain lines, one per run and one per "
        "round of each running federation, are printed always).",
    )
    parser.add_argument(
        "--checkpoint",
        type=str | None,
        default=None,
        help="A DAE checkpoint for every seed instead of pre-training one per seed (its "
        "hold-out should match each seed's data split, e.g. one seed).",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="Federations run at once on this machine, each in its own process with "
        "--threads torch threads (>= 1).",
    )
    parser.add_argument(
        "--threads",
        type=int | None,
        default=None,
        help="torch threads of each federation run here (>= 1; default: cores // jobs, or "
        "torch's default with --jobs 1). CPU kernels' sums depend on it: fix it (e.g. 1) to get "
        "the same numbers with any --jobs.",
    )
    parser.add_argument(
        "--executor",
        type=ExecutorName,
        default="local",
        help="Where the federations run: local (this machine, --jobs at once) or ray (each a "
        "Ray task on the cluster at --ray.address; configs and output on a shared filesystem).",
    )
    parser.add_argument(
        "--report_only",
        type=bool,
        default=False,
        help="Run nothing: write the report (summary.*, curves.csv, plots) from the runs "
        "finished so far, e.g. while the comparison runs in another shell. Unfinished runs are "
        "left out of every figure and listed (summary.json's `pending`); not logged to W&B.",
    )
    parser.add_argument("--verbose", type=bool, default=False, help=VERBOSE_HELP)
    parser.add_argument(
        "--fdae",
        type=FdaeSpec,
        default=FdaeSpec(),
        help="The federated DAE pre-training of the _fdae methods (one per partition and "
        "seed, on the clients' own images): rounds, clients_per_round, local_epochs, "
        "batch_size.",
    )
    parser.add_argument(
        "--report",
        type=ReportOptions,
        default=ReportOptions(),
        help="summary.md's layout: rank_by (none | total_bytes | total_flops | bytes: rows "
        "cheapest first, pre-training included for total_*) and server_data (a column of the "
        "data each method needs on the server).",
    )
    parser.add_argument("--ray", type=RayOptions, default=RayOptions())
    parser.add_argument("--wandb", type=CompareWandb, default=CompareWandb())
    return parser


def compare_config_of(cfg: Namespace) -> CompareConfig:
    """The typed config of a parse of `fl-lightning compare`: the federate config found as the
    command finds it (beside the `--config` YAML first, then the current folder and the
    packaged configs), the YAML files it was read from kept in `config`."""
    tree = {k: v for k, v in cfg.as_dict().items() if k not in ("config", "__path__")}
    tree["federate_config"] = resolve_config_path(
        tree["federate_config"], "federate_config", config_files(cfg)
    )
    files = [os.fspath(p) for p in (cfg.get("config") or []) if p]
    config = CompareConfig.from_dict(tree)
    return dataclasses.replace(config, config=tuple(files)) if files else config
