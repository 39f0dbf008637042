"""`fl-lightning pretrain --federated`: the DAE pre-trained by FedAvg on the clients' own images
(`fl_lightning.app.federated_pretraining`); no server data needed.

    fl-lightning pretrain --federated --config configs/pretrain/fashion_mnist_federated.yaml
"""

from __future__ import annotations

from collections.abc import Sequence

from jsonargparse import ActionConfigFile, ArgumentParser

from fl_lightning.app.federated_pretraining import (
    FederatedPretrainConfig,
    FederatedWandb,
    federated_pretrain,
)
from fl_lightning.app.flags import bool_options, expand_bare_flags
from fl_lightning.config_files import check_config_args
from fl_lightning.console import VERBOSE_HELP, library_messages
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig, quiet_lightning
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.parse_errors import parse_args

DESCRIPTION = """\
Pre-train the classifier's feature extractor as a denoising autoencoder by FedAvg on the clients'
own training images (labels unused): no server data. Each round the sampled clients download the
autoencoder (encoder + decoder, float32), train it locally and upload it; bytes, client FLOPs and
seconds are counted. OUTPUT gets dae.ckpt (prune and federate take it as any DAE checkpoint; its
provenance says `source: clients` and carries the cost), metrics.csv, summary.json, config.yaml
and checkpoint.pt (--resume continues from the last finished round).
"""

#: The flag that selects this command inside `fl-lightning pretrain`.
FLAG = "--federated"


def build_parser() -> ArgumentParser:
    """The parser of `fl-lightning pretrain --federated` (its YAML schema too)."""
    parser = ArgumentParser(prog="fl-lightning pretrain --federated", description=DESCRIPTION)
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="YAML file of options.")
    parser.add_argument(
        "--output", type=str, required=True, help="Run folder, e.g. runs/pretrain/federated."
    )
    parser.add_argument("--rounds", type=int, default=20, help="Rounds of FedAvg (>= 1).")
    parser.add_argument(
        "--clients_per_round",
        type=float,
        default=10,
        help="Clients sampled per round: a count (>= 1) or a fraction in (0, 1).",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="Round-0 weights, sampling, batch order and noise."
    )
    parser.add_argument(
        "--resume", type=bool, default=False, help="Continue OUTPUT from its checkpoint.pt."
    )
    parser.add_class_arguments(FederatedDataModule, "data", instantiate=False)
    parser.add_class_arguments(DAEPretrainer, "model", skip={"dataset"}, instantiate=False)
    parser.add_argument("--client", type=ClientConfig, default=ClientConfig())
    parser.add_argument("--wandb", type=FederatedWandb, default=FederatedWandb())
    parser.add_argument("--verbose", type=bool, default=False, help=VERBOSE_HELP)
    parser.set_defaults({"data.server_images": 0})
    return parser


def wants_federated(argv: Sequence[str]) -> bool:
    """Whether `fl-lightning pretrain ARGV` asks for the federated pre-training."""
    return any(a == FLAG or (a.startswith(f"{FLAG}=") and a != f"{FLAG}=false") for a in argv)


def main(argv: list[str]) -> None:
    """Parse `argv` (without `--federated`), pre-train by federation, print where it went."""
    parser = build_parser()
    argv = expand_bare_flags(argv, bool_options(parser))
    check_config_args(argv, parser.get_defaults())
    cfg = parse_args(parser, argv)
    config = FederatedPretrainConfig(
        output=cfg.output,
        data=dict(vars(cfg.data)),
        model=dict(vars(cfg.model)),
        client=ClientConfig(**vars(cfg.client)),
        rounds=cfg.rounds,
        clients_per_round=cfg.clients_per_round,
        seed=cfg.seed,
        resume=cfg.resume,
        wandb=FederatedWandb(**vars(cfg.wandb)),
    )

    def line(row: dict[str, object]) -> None:
        print(
            f"round {row['round']}/{config.rounds}  test/recon_loss {row['test/recon_loss']:.4f}"
            f"  traffic {int(row['comm/cum_bytes']) / 1e6:.1f} MB",  # type: ignore[call-overload]
            flush=True,
        )

    with library_messages(cfg.verbose):
        if not cfg.verbose:
            quiet_lightning()
        path = federated_pretrain(config, on_round=line)
    print(f"checkpoint: {path}")
