"""Partitions: every index dealt once, seeded, skewed where asked, refused when impossible."""

from __future__ import annotations

import math
import re
from typing import get_args

import pytest
import torch

from fl_lightning.data import partition
from fl_lightning.data.partition import (
    DirichletPartitioner,
    IidPartitioner,
    PartitionName,
    PartitionScheme,
    ShardPartitioner,
    make_partitioner,
    partition_names,
    register_partition,
    server_split,
)
from fl_lightning.errors import UsageError


def balanced_labels(num_classes: int = 10, per_class: int = 100, seed: int = 0) -> torch.Tensor:
    """`num_classes * per_class` labels, each class equally often, in a shuffled order."""
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


def mean_label_entropy(labels: torch.Tensor, parts: list[torch.Tensor]) -> float:
    """Mean over clients of the entropy (nats) of the client's label histogram."""
    total = 0.0
    for part in parts:
        p = torch.bincount(labels[part]).double()
        p = p[p > 0] / p.sum()
        total += float(-(p * p.log()).sum())
    return total / len(parts)


PARTITIONERS = [
    pytest.param(lambda seed: IidPartitioner(seed), id="iid"),
    pytest.param(lambda seed: DirichletPartitioner(0.5, 5, seed), id="dirichlet"),
    pytest.param(lambda seed: ShardPartitioner(2, seed), id="shards"),
]


@pytest.mark.parametrize("make", PARTITIONERS)
@pytest.mark.parametrize(("num_examples", "num_clients"), [(1000, 10), (997, 7), (300, 30)])
def test_partition_is_disjoint_sorted_and_covers_every_index(make, num_examples, num_clients):
    labels = balanced_labels(per_class=100)[:num_examples]
    parts = make(0).partition(labels, num_clients)
    assert len(parts) == num_clients
    for part in parts:
        assert part.dtype == torch.int64
        assert torch.equal(part, part.sort().values)
    assert sum(len(p) for p in parts) == num_examples
    assert torch.equal(torch.cat(parts).sort().values, torch.arange(num_examples))


@pytest.mark.parametrize("make", PARTITIONERS)
def test_partition_depends_on_the_seed_only(make):
    labels = balanced_labels()
    first = make(3).partition(labels, 10)
    partitioner = make(3)
    again = partitioner.partition(labels, 10)
    twice = partitioner.partition(labels, 10)  # the generator is re-seeded per call
    other = make(4).partition(labels, 10)
    for a, b, c in zip(first, again, twice, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert any(not torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_iid_sizes_differ_by_at_most_one():
    parts = IidPartitioner(0).partition(torch.zeros(10, dtype=torch.int64), 3)
    assert [len(p) for p in parts] == [4, 3, 3]


def test_dirichlet_small_alpha_is_label_skewed_and_large_alpha_is_not():
    labels = balanced_labels(per_class=100)
    iid = mean_label_entropy(labels, IidPartitioner(0).partition(labels, 10))
    skewed = mean_label_entropy(labels, DirichletPartitioner(0.1, 10, 0).partition(labels, 10))
    near_iid = mean_label_entropy(labels, DirichletPartitioner(1000.0, 10, 0).partition(labels, 10))
    assert iid > 0.95 * math.log(10)  # ~100 examples over 10 classes: almost uniform
    assert skewed < 0.5 * iid
    assert near_iid > 0.95 * math.log(10)


def test_dirichlet_respects_min_partition_size():
    labels = balanced_labels(per_class=50)
    parts = DirichletPartitioner(0.1, 20, 0).partition(labels, 10)
    assert min(len(p) for p in parts) >= 20


def test_dirichlet_gives_up_after_bounded_tries_with_a_clear_error():
    labels = balanced_labels(per_class=10)  # 100 examples, 10 clients, each must get >= 9
    partitioner = DirichletPartitioner(0.01, 9, 0, max_tries=5)
    with pytest.raises(UsageError, match=r"after 5 draws.*data\.min_partition_size=9"):
        partitioner.partition(labels, 10)


def test_dirichlet_refuses_an_impossible_minimum_up_front():
    with pytest.raises(UsageError, match=r"data\.min_partition_size=11 is impossible"):
        DirichletPartitioner(0.5, 11, 0).partition(balanced_labels(per_class=10), 10)


def test_shards_of_a_label_sorted_dataset_give_each_client_at_most_its_shard_count_of_labels():
    labels = torch.arange(10).repeat_interleave(6)  # 60 examples: 30 shards of 2, one label each
    parts = ShardPartitioner(2, 0).partition(labels, 15)
    assert [len(p) for p in parts] == [4] * 15
    assert all(len(labels[p].unique()) <= 2 for p in parts)


def test_shards_are_contiguous_runs_of_the_label_order():
    # Labels already sorted: shards are index pairs {0,1}, {2,3}, ...; a client gets two pairs.
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    parts = ShardPartitioner(2, 0).partition(labels, 2)
    for part in parts:
        pairs = part.view(-1, 2)
        assert torch.all(pairs[:, 0] % 2 == 0) and torch.all(pairs[:, 1] == pairs[:, 0] + 1)


def test_shards_follow_labels_not_positions():
    # Each label once, in reverse: the shard holding labels {0, 1} is indices {5, 4}.
    labels = torch.tensor([5, 4, 3, 2, 1, 0])
    parts = ShardPartitioner(1, 0).partition(labels, 3)
    assert sorted(p.tolist() for p in parts) == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_dirichlet_rejects_non_positive_alpha(alpha):
    with pytest.raises(UsageError, match=r"data\.alpha"):
        DirichletPartitioner(alpha, 10, 0)


def test_dirichlet_rejects_negative_min_partition_size():
    with pytest.raises(UsageError, match=r"data\.min_partition_size"):
        DirichletPartitioner(0.5, -1, 0)


@pytest.mark.parametrize("make", PARTITIONERS)
@pytest.mark.parametrize("num_clients", [0, 101])
def test_num_clients_outside_one_to_the_example_count_is_refused(make, num_clients):
    with pytest.raises(UsageError, match=r"data\.num_clients"):
        make(0).partition(balanced_labels(per_class=10), num_clients)


def test_shards_that_do_not_fit_are_refused():
    with pytest.raises(UsageError, match=r"data\.shards_per_client=2 x data\.num_clients=31"):
        ShardPartitioner(2, 0).partition(torch.zeros(60, dtype=torch.int64), 31)
    with pytest.raises(UsageError, match=r"data\.shards_per_client"):
        ShardPartitioner(0, 0)


def test_make_partitioner_passes_on_only_the_settings_each_uses():
    dirichlet = make_partitioner("dirichlet", seed=5, alpha=0.3, min_partition_size=7)
    assert isinstance(dirichlet, DirichletPartitioner)
    assert (dirichlet.alpha, dirichlet.min_partition_size, dirichlet.seed) == (0.3, 7, 5)
    shards = make_partitioner("shards", seed=1, shards_per_client=3)
    assert isinstance(shards, ShardPartitioner) and shards.shards_per_client == 3
    assert isinstance(make_partitioner("iid", seed=0, alpha=-1.0), IidPartitioner)
    with pytest.raises(UsageError, match=r"data\.partition='pathological'.*iid, dirichlet, shards"):
        make_partitioner("pathological", seed=0)


def test_server_split_is_a_seeded_disjoint_sorted_split():
    server, clients = server_split(10, 3, seed=0)
    assert (len(server), len(clients)) == (3, 7)
    assert torch.equal(torch.cat([server, clients]).sort().values, torch.arange(10))
    assert torch.equal(server, server.sort().values) and torch.equal(clients, clients.sort().values)
    assert torch.equal(server, server_split(10, 3, seed=0)[0])
    assert any(not torch.equal(server, server_split(10, 3, seed=s)[0]) for s in range(1, 5))


def test_smaller_server_share_is_a_subset_of_a_larger_one_for_one_seed():
    small, _ = server_split(100, 10, seed=7)
    _, clients_after_large = server_split(100, 30, seed=7)
    assert not set(small.tolist()) & set(clients_after_large.tolist())


@pytest.mark.parametrize(("num_examples", "num_server"), [(10, 0), (10, 10)])
def test_server_split_edges(num_examples, num_server):
    server, clients = server_split(num_examples, num_server, seed=0)
    assert len(server) == num_server and len(clients) == num_examples - num_server


@pytest.mark.parametrize("num_server", [-1, 11])
def test_server_split_out_of_range_names_the_option(num_server):
    with pytest.raises(UsageError, match=r"data\.server_images"):
        server_split(10, num_server, seed=0, option="data.server_images")


def test_the_registry_holds_the_module_tables_rows_and_the_literals_names() -> None:
    assert partition.__doc__
    table = re.findall(r"^\| `(\w+)` +\|", partition.__doc__, flags=re.MULTILINE)
    assert partition_names() == tuple(table) == get_args(PartitionName)
    assert partition_names() == ("iid", "dirichlet", "shards")


@pytest.fixture
def restore_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test registers is gone after it."""
    monkeypatch.setattr(
        partition.PARTITION_REGISTRY, "registered", dict(partition.PARTITION_REGISTRY.registered)
    )


class FirstComeClients:
    """A trivial partitioner: client c gets the examples at positions c, c + n, c + 2n, ..."""

    def partition(self, labels: torch.Tensor, num_clients: int) -> list[torch.Tensor]:
        return [torch.arange(c, len(labels), num_clients) for c in range(num_clients)]


def test_a_new_partitioner_is_one_record_found_by_name(restore_registry: None) -> None:
    register_partition(PartitionScheme("strided", lambda s: FirstComeClients()))
    assert partition_names()[-1] == "strided"
    parts = make_partitioner("strided", seed=0).partition(torch.zeros(5, dtype=torch.int64), 2)
    assert [p.tolist() for p in parts] == [[0, 2, 4], [1, 3]]
    with pytest.raises(UsageError, match="'iid' is already registered"):
        register_partition(PartitionScheme("iid", lambda s: FirstComeClients()))
