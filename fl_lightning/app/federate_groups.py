"""The option groups of a federation that no lower layer owns as a value: `data` (the
`FederatedDataModule`'s arguments) and `model` (the `Classifier`'s checked options); `wandb`
(`WandbConfig`) is `tracking.wandb_options`'s, shared with the parsers below this layer.

Each is a frozen dataclass checked by its owner when built, so a bad value is refused where it
is given, naming the option (`data.num_clients`, `model.lr`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.data.partition import PartitionName
from fl_lightning.models.classifier import Optimizer, check_options
from fl_lightning.tracking.wandb_options import WandbConfig

__all__ = ["DataOptions", "ModelOptions", "WandbConfig"]


@dataclass(frozen=True)
class DataOptions:
    """The clients' data: `FederatedDataModule`'s arguments (documented and checked there),
    bar `batch_size` (clients train with `client.batch_size`)."""

    dataset: str = "fashion_mnist"
    root: str | None = None
    num_clients: int = 100
    partition: PartitionName = "iid"
    alpha: float = 0.5
    shards_per_client: int = 2
    min_partition_size: int = 10
    server_images: int = 10000
    split_seed: int = 0
    max_client_examples: int | None = None
    max_test_examples: int | None = None
    test_batch_size: int = 1000

    def __post_init__(self) -> None:
        self.module()  # the data module checks its arguments when built (reads no data)

    def module(self) -> FederatedDataModule:
        """The data module of these options (its data is read by `setup`)."""
        return FederatedDataModule(**asdict(self))


@dataclass(frozen=True)
class ModelOptions:
    """The classifier's options: `Classifier`'s arguments (documented and checked there), bar
    `dataset` (`data.dataset`), `dae_checkpoint` and `widths` (a structured ticket's)."""

    model: str = "cnn"
    optimizer: Optimizer = "sgd"
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_options(**asdict(self), prefix="model.")
