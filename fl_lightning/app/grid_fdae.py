"""The comparison's federated DAE pre-trainings: one per partition and seed, for the `_fdae` rows.

    OUTPUT/pretrain_fdae/<partition>/seed<S>/dae.ckpt     `pretrain --federated` on that
                                                         partition's clients, all their images

The pre-training federates over the same clients as the runs of its partition and seed (the
federate config's data settings and seeds), with every training image on the clients
(`data.server_images` 0), the DAE settings of the federate config's `pretrain_config` (the
server DAE's: same noise, optimizer and learning rate) and its own rounds, clients per round and
local epochs (`FdaeSpec`, the compare YAML's `fdae:`). A finished one is reused when it was made
with the same settings, an interrupted one resumed; one made with others is refused.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import yaml

from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federated_pretraining import (
    CHECKPOINT_NAME,
    FederatedPretrainConfig,
    federated_pretrain,
    plain_config_text,
)
from fl_lightning.app.typed_build import build
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.codecs.values import DOWN_CODECS, DownCodec, Rounding, ValueCodec
from fl_lightning.federated.config import FederationConfig
from fl_lightning.federated.server_optimizer import ServerOptimizerName
from fl_lightning.models.dae import DAEPretrainer

#: The folder of the comparison's federated pre-trainings.
FOLDER = "pretrain_fdae"


@dataclass(frozen=True)
class FdaeSpec:
    """The federated DAE pre-training of the comparison's `_fdae` rows.

    Args:
        rounds: FedAvg rounds of the pre-training (>= 1).
        clients_per_round: clients sampled per round: a count or a fraction in (0, 1).
        local_epochs: passes over a client's images per round (>= 1).
        batch_size: the clients' mini-batch (None: the federation's `client.batch_size`).
        down_codec: value codec of the pre-training's downloads (None: float32); as
            `federation.down_codec`.
        down_error_feedback: the server keeps what quantising the broadcast dropped and adds it
            to the next round's (DoubleSqueeze / EF21-P); as `federation.down_error_feedback`.
        up_codec: value codec of its uploads (None: float32); as `federation.up_codec`.
        error_feedback: clients keep what their upload compression dropped; as
            `federation.error_feedback`.
        up_rounding: rounding of integer upload codecs (`nearest` or `stochastic`).
        server_optimizer: the server's update rule for the DAE rounds (`none` = FedAvg, `sgd`,
            `adam`, `yogi`, `adagrad`); as `federation.server_optimizer`.
        server_lr: its learning rate (None: its default).
    """

    rounds: int = 20
    clients_per_round: float = 10
    local_epochs: int = 1
    batch_size: int | None = None
    down_codec: DownCodec | None = None
    down_error_feedback: bool = False
    up_codec: ValueCodec | None = None
    error_feedback: bool = False
    up_rounding: Rounding = "nearest"
    server_optimizer: ServerOptimizerName = "none"
    server_lr: float | None = None

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise UsageError(f"fdae.rounds={self.rounds!r} must be >= 1.")
        if not self.clients_per_round > 0:
            raise UsageError(f"fdae.clients_per_round={self.clients_per_round!r} must be > 0.")
        if self.local_epochs < 1:
            raise UsageError(f"fdae.local_epochs={self.local_epochs!r} must be >= 1.")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"fdae.batch_size={self.batch_size!r} must be >= 1.")
        if self.down_codec is not None and self.down_codec not in DOWN_CODECS:
            raise UsageError(
                f"fdae.down_codec={self.down_codec!r}: allowed {', '.join(DOWN_CODECS)} or null "
                "(float32); downloads carry weights."
            )
        try:  # FederationConfig checks its own fields; name them as this YAML key does
            federation = self.federation()
        except UsageError as error:
            raise UsageError(str(error).replace("federation.", "fdae.")) from None
        federation.upload.validate("fdae")
        try:
            federation.validate_download()
        except UsageError as error:
            raise UsageError(str(error).replace("federation.", "fdae.")) from None

    def federation(self) -> FederationConfig:
        """The pre-training's round settings (checked by `FederationConfig` itself)."""
        return FederationConfig(
            rounds=self.rounds,
            clients_per_round=self.clients_per_round,
            down_codec=self.down_codec,
            down_error_feedback=self.down_error_feedback,
            up_codec=self.up_codec,
            error_feedback=self.error_feedback,
            up_rounding=self.up_rounding,
            server_optimizer=self.server_optimizer,
            server_lr=self.server_lr,
        )


def fdae_folder(output: Path, partition: str, seed: int) -> Path:
    """Where the federated pre-training of `partition` and `seed` goes."""
    return output / FOLDER / partition / f"seed{seed}"


def fdae_config(config: FederateConfig, spec: FdaeSpec, out: Path) -> FederatedPretrainConfig:
    """The federated pre-training that serves the resolved federate config `config`'s run."""
    data = {k: v for k, v in asdict(config.data).items() if k not in ("server_images",)}
    dae_options = set(inspect.signature(DAEPretrainer.__init__).parameters) - {
        "self",
        "dataset",
        "images_to_log",
        "model",
    }
    pretrain_yaml = yaml.safe_load(Path(config.pretrain_config).read_text()) or {}
    model = {k: v for k, v in (pretrain_yaml.get("model") or {}).items() if k in dae_options}
    return FederatedPretrainConfig(
        output=str(out),
        data=data,
        model={"model": config.model.model, **model},
        client=ClientConfig(
            local_epochs=spec.local_epochs,
            batch_size=spec.batch_size or config.client.batch_size,
            accelerator=config.client.accelerator,
        ),
        federation=spec.federation(),
        seeds=config.seeds,
        progress=False,
    )


def fdae_checkpoint(
    federate_config: FederateConfig,
    spec: FdaeSpec,
    out: Path,
    *,
    train: bool = True,
    wandb: WandbConfig | None = None,
) -> str:
    """The federated DAE checkpoint in `out` for the resolved federate config: reused when
    finished with the same settings, resumed when interrupted, made otherwise (unless `train`
    is False: then its path is returned as is). `wandb`: the W&B run of a pre-training made or
    resumed here (`grid_fdae_wandb`; None: none); a reused one logs nothing."""
    config = fdae_config(federate_config, spec, out)
    if wandb is not None:  # how it is logged, not what it computes (`VOLATILE_FIELDS`)
        config = replace(config, wandb=wandb)
    ckpt = out / CHECKPOINT_NAME
    if ckpt.is_file():
        recorded = out / "config.yaml"
        found = recorded_pretraining(recorded.read_text()) if recorded.is_file() else None
        if found is None or found != recorded_pretraining(plain_config_text(config)):
            raise UsageError(
                f"{out} holds a federated pre-training made with other settings than this "
                "comparison asks for; delete it or choose another --output."
            )
        return str(ckpt)
    if not train:
        return str(ckpt)
    resume = (out / "checkpoint.pt").is_file()
    federated_pretrain(replace(config, resume=resume))
    return str(ckpt)


#: What a federated pre-training's config.yaml says about how it ran and was logged, not what it
#: computed: left out of its identity (a folder made before one of these options existed, or
#: moved, keeps its pre-training).
VOLATILE_FIELDS = ("output", "resume", "progress", "engine", "flower", "wandb", "config_text")


#: The fields that say what a federated pre-training computed: a record must hold each.
_COMPUTED = {f.name for f in fields(FederatedPretrainConfig)} - set(VOLATILE_FIELDS)


def recorded_pretraining(text: str) -> FederatedPretrainConfig | None:
    """The identity of the federated pre-training whose config.yaml is `text`: its typed
    config with the `VOLATILE_FIELDS` at their defaults, or None when it cannot be read as a
    config of today's options or lacks one of its groups (then it is not the pre-training
    asked for). Two pre-trainings are the same when their identities are equal: typed values,
    so an option a group of the record lacks counts at its default and `10` equals `10.0`."""
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(tree, dict):
        return None
    kept = {key: value for key, value in tree.items() if key not in VOLATILE_FIELDS}
    if kept.keys() != _COMPUTED:  # a record lacking a whole group says nothing of it
        return None
    try:
        return build(FederatedPretrainConfig, {**kept, "output": ""})
    except (UsageError, TypeError, ValueError):
        return None
