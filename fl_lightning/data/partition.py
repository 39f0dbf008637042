"""How a training set is split: the server's unlabeled holdout, and the clients' labeled shares.

`server_split` takes the server's images out first; a partitioner then deals the rest to the
clients. Every partitioner owns a `torch.Generator` seeded from its `seed` (Flower's partitioner
style) and re-seeds it at the start of each `partition` call, so a partition is a pure function of
`(labels, num_clients, seed)`. Every partition returns sorted int64 index tensors that are
disjoint and cover every example exactly once.

| name        | partitioner            | settings it uses (`data.*`)  |
| ----------- | ---------------------- | ---------------------------- |
| `iid`       | `IidPartitioner`       | seed                         |
| `dirichlet` | `DirichletPartitioner` | alpha, min_partition_size    |
| `shards`    | `ShardPartitioner`     | shards_per_client            |

Each row is one `PartitionScheme` record in `PARTITION_REGISTRY` (name, and how to build its
partitioner from the `PartitionSettings`), looked up by name by `make_partitioner`. The
`PartitionName` Literal repeats the names because `FederatedDataModule`'s signature is the
`data.*` schema the command line parses (its choices in `--help` and its refusals); a test keeps
the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from fl_lightning.errors import UsageError
from fl_lightning.named_registry import NamedRegistry

#: The registered partitioners' names, for the signatures the command line parses.
PartitionName = Literal["iid", "dirichlet", "shards"]


def server_split(
    num_examples: int, num_server: int, seed: int, *, option: str = "num_server"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded disjoint split of `range(num_examples)` into server and client indices (sorted).

    The server's share is the first `num_server` entries of one seeded permutation, so for one
    seed a smaller holdout is a subset of a larger one: a server module holding out `n` images
    is disjoint from clients that were left what remains after a holdout of `m >= n`.
    `option` names the setting in error messages (e.g. `data.server_images`).
    """
    if num_examples < 1:
        raise UsageError(f"cannot split an empty dataset (num_examples={num_examples}).")
    if not 0 <= num_server <= num_examples:
        raise UsageError(
            f"{option}={num_server!r} is out of range; allowed: 0 to the {num_examples} "
            "training examples."
        )
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_examples, generator=generator)
    return perm[:num_server].sort().values, perm[num_server:].sort().values


class Partitioner(Protocol):
    """Deals example indices to clients."""

    def partition(self, labels: torch.Tensor, num_clients: int) -> list[torch.Tensor]:
        """`num_clients` sorted int64 index tensors into `labels`: disjoint, covering all."""
        ...


def _check_inputs(labels: torch.Tensor, num_clients: int) -> None:
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got {labels.dtype} {labels.shape}")
    if len(labels) and int(labels.min()) < 0:
        raise ValueError("labels must be non-negative class indices")
    if not 1 <= num_clients <= len(labels):
        raise UsageError(
            f"data.num_clients={num_clients!r} is out of range; allowed: 1 to the "
            f"{len(labels)} examples to partition."
        )


def _sorted_parts(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    return [p.to(torch.int64).sort().values for p in parts]


class IidPartitioner:
    """Uniformly random, equal-sized shares (sizes differ by at most one)."""

    def __init__(self, seed: int = 0) -> None:
        """Check the arguments; the generator is seeded per call.

        Args:
            seed: seeds the partitioner's generator; the same seed gives the same partition.
        """
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def partition(self, labels: torch.Tensor, num_clients: int) -> list[torch.Tensor]:
        """Shuffle all indices and cut them into `num_clients` near-equal runs."""
        _check_inputs(labels, num_clients)
        self.generator.manual_seed(self.seed)
        perm = torch.randperm(len(labels), generator=self.generator)
        return _sorted_parts(list(torch.tensor_split(perm, num_clients)))


class DirichletPartitioner:
    """Label-skewed shares: each class is split over clients by Dirichlet(alpha) proportions.

    Small `alpha` (0.1) gives each client few classes; large `alpha` (100) approaches IID. The
    draw is repeated until every client holds at least `min_partition_size` examples, at most
    `max_tries` times (Hsu et al. 2019; Flower's `DirichletPartitioner` without self-balancing).
    """

    def __init__(
        self, alpha: float = 0.5, min_partition_size: int = 10, seed: int = 0, max_tries: int = 100
    ) -> None:
        """Check the arguments; the generator is seeded per call.

        Args:
            alpha: Dirichlet concentration (> 0), the same for every client.
            min_partition_size: smallest share any client may get (>= 0).
            seed: seeds the partitioner's generator; the same seed gives the same partition.
            max_tries: redraws allowed before giving up with a `UsageError`.
        """
        if not alpha > 0:
            raise UsageError(f"data.alpha={alpha!r} must be > 0 (small: skewed, large: IID).")
        if min_partition_size < 0:
            raise UsageError(f"data.min_partition_size={min_partition_size!r} must be >= 0.")
        if max_tries < 1:
            raise ValueError(f"max_tries={max_tries!r} must be >= 1")
        self.alpha = float(alpha)
        self.min_partition_size = int(min_partition_size)
        self.seed = seed
        self.max_tries = max_tries
        self.generator = torch.Generator().manual_seed(seed)

    def partition(self, labels: torch.Tensor, num_clients: int) -> list[torch.Tensor]:
        """Per class, shuffle its indices and cut them at Dirichlet(alpha) proportions."""
        _check_inputs(labels, num_clients)
        if self.min_partition_size * num_clients > len(labels):
            raise UsageError(
                f"data.min_partition_size={self.min_partition_size} is impossible for "
                f"{num_clients} clients sharing {len(labels)} examples; lower it or "
                "data.num_clients."
            )
        self.generator.manual_seed(self.seed)
        # numpy's Dirichlet sampler copes with tiny alpha; the torch generator seeds it so the
        # partitioner has one source of randomness.
        rng = np.random.default_rng(
            int(torch.randint(0, 2**62, (1,), generator=self.generator).item())
        )
        by_class = [
            idx[torch.randperm(len(idx), generator=self.generator)]
            for idx in (torch.nonzero(labels == c).flatten() for c in torch.unique(labels))
        ]
        smallest = 0
        for _ in range(self.max_tries):
            shares: list[list[torch.Tensor]] = [[] for _ in range(num_clients)]
            for idx in by_class:
                proportions = rng.dirichlet(np.full(num_clients, self.alpha))
                cuts = (np.cumsum(proportions)[:-1] * len(idx)).astype(np.int64)
                for client, part in enumerate(torch.tensor_split(idx, cuts.tolist())):
                    shares[client].append(part)
            parts = [torch.cat(s) for s in shares]
            smallest = min(len(p) for p in parts)
            if smallest >= self.min_partition_size:
                return _sorted_parts(parts)
        raise UsageError(
            f"data.partition=dirichlet: after {self.max_tries} draws some client still had "
            f"{smallest} < data.min_partition_size={self.min_partition_size} examples "
            f"(data.alpha={self.alpha}, data.num_clients={num_clients}, {len(labels)} examples). "
            "Raise data.alpha, or lower data.min_partition_size or data.num_clients."
        )


class ShardPartitioner:
    """McMahan et al.'s pathological non-IID split: sort by label, cut shards, deal them out.

    The label-sorted indices are cut into `num_clients * shards_per_client` contiguous shards
    (sizes differ by at most one) and each client gets `shards_per_client` of them at random, so
    a client sees at most about `shards_per_client` classes.
    """

    def __init__(self, shards_per_client: int = 2, seed: int = 0) -> None:
        """Check the arguments; the generator is seeded per call.

        Args:
            shards_per_client: shards each client receives (>= 1).
            seed: seeds the partitioner's generator; the same seed gives the same partition.
        """
        if shards_per_client < 1:
            raise UsageError(f"data.shards_per_client={shards_per_client!r} must be >= 1.")
        self.shards_per_client = int(shards_per_client)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def partition(self, labels: torch.Tensor, num_clients: int) -> list[torch.Tensor]:
        """Deal label-sorted shards at random, `shards_per_client` to each client."""
        _check_inputs(labels, num_clients)
        num_shards = num_clients * self.shards_per_client
        if num_shards > len(labels):
            raise UsageError(
                f"data.shards_per_client={self.shards_per_client} x data.num_clients="
                f"{num_clients} = {num_shards} shards do not fit in {len(labels)} examples."
            )
        self.generator.manual_seed(self.seed)
        order = torch.sort(labels, stable=True).indices
        shards = torch.tensor_split(order, num_shards)
        dealt = torch.randperm(num_shards, generator=self.generator).view(num_clients, -1)
        return _sorted_parts([torch.cat([shards[int(s)] for s in row]) for row in dealt])


@dataclass(frozen=True)
class PartitionSettings:
    """The `data.*` settings a partitioner may use (each uses only its own)."""

    seed: int
    alpha: float = 0.5
    min_partition_size: int = 10
    shards_per_client: int = 2


@dataclass(frozen=True)
class PartitionScheme:
    """One partitioner by name (`data.partition`): how it is built from the settings."""

    name: str
    build: Callable[[PartitionSettings], Partitioner]


#: The partitioners by name, in the module table's order.
PARTITION_REGISTRY: NamedRegistry[PartitionScheme] = NamedRegistry("data.partition")


def register_partition(scheme: PartitionScheme, *, replace: bool = False) -> PartitionScheme:
    """Make `scheme` known under its name; a name already registered is refused unless
    `replace`. (The command line offers only the names of `PartitionName`.)"""
    return PARTITION_REGISTRY.register(scheme, replace=replace)


def partition_names() -> tuple[str, ...]:
    """Every registered partitioner, in the module table's order."""
    return PARTITION_REGISTRY.names()


def partition_scheme(name: object, option: str = "data.partition") -> PartitionScheme:
    """The partitioner called `name`; a `UsageError` naming `option` and listing the known ones."""
    return PARTITION_REGISTRY.lookup(name, option)


def make_partitioner(
    name: str,
    *,
    seed: int,
    alpha: float = 0.5,
    min_partition_size: int = 10,
    shards_per_client: int = 2,
) -> Partitioner:
    """The partitioner called `name` (`data.partition`), given only the settings it uses."""
    settings = PartitionSettings(seed, alpha, min_partition_size, shards_per_client)
    return partition_scheme(name).build(settings)


for _scheme in (
    PartitionScheme("iid", lambda s: IidPartitioner(s.seed)),
    PartitionScheme(
        "dirichlet", lambda s: DirichletPartitioner(s.alpha, s.min_partition_size, s.seed)
    ),
    PartitionScheme("shards", lambda s: ShardPartitioner(s.shards_per_client, s.seed)),
):
    register_partition(_scheme)
