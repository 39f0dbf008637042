"""`sampling`: clients per round from a count or a fraction, the seeded client sampler, and the
pure per-client data-order seed."""

from __future__ import annotations

import pytest

from fl_lightning.federated.sampling import ClientSampler, clients_per_round, data_order_seed


@pytest.mark.parametrize(
    ("spec", "num_clients", "k"),
    [
        (0.1, 100, 10),  # a fraction of the clients
        (0.25, 10, 2),  # 2.5 rounds half to even
        (0.35, 10, 4),  # 3.5 rounds half to even
        (0.01, 10, 1),  # at least one client
        (3, 10, 3),  # a count
        (3.0, 10, 3),
        (1, 10, 1),  # 1 is a count, not "all"
        (12, 10, 10),  # never more than there are
    ],
)
def test_clients_per_round(spec: float, num_clients: int, k: int) -> None:
    assert clients_per_round(spec, num_clients) == k


@pytest.mark.parametrize("spec", [0, -0.5])
def test_clients_per_round_refuses_nothing(spec: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        clients_per_round(spec, 10)


def test_sampler_draws_distinct_sorted_ids_reproducibly() -> None:
    a, b = ClientSampler(7), ClientSampler(7)
    rounds = [a.sample(20, 5) for _ in range(6)]
    assert rounds == [b.sample(20, 5) for _ in range(6)]
    for ids in rounds:
        assert ids == sorted(set(ids)) and len(ids) == 5 and ids[0] >= 0 and ids[-1] < 20
    assert len({tuple(r) for r in rounds}) > 1  # not the same clients every round
    assert rounds != [ClientSampler(8).sample(20, 5) for _ in range(6)]
    assert ClientSampler(0).sample(4, 4) == [0, 1, 2, 3]


@pytest.mark.parametrize("k", [0, 5])
def test_sampler_refuses_impossible_draws(k: int) -> None:
    with pytest.raises(ValueError, match=f"cannot sample {k} of 4"):
        ClientSampler(0).sample(4, k)


def test_sampler_state_continues_where_it_stopped() -> None:
    """What a resumed engine relies on: the restored sampler draws what the original would."""
    original = ClientSampler(3)
    original.sample(50, 10)
    saved = original.state_dict()
    expected = [original.sample(50, 10) for _ in range(3)]
    restored = ClientSampler(99)
    restored.load_state_dict(saved)
    assert [restored.sample(50, 10) for _ in range(3)] == expected


def test_data_order_seed_is_a_pure_function_of_base_round_and_client() -> None:
    seed = data_order_seed(0, 1, 2)
    assert data_order_seed(0, 1, 2) == seed and 0 <= seed < 2**31 - 1
    others = {data_order_seed(1, 1, 2), data_order_seed(0, 2, 2), data_order_seed(0, 1, 3)}
    assert seed not in others and len(others) == 3
    # base, round and client are not interchangeable
    assert data_order_seed(0, 1, 2) != data_order_seed(0, 2, 1)
