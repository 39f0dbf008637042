"""`ClientSampler`: which clients take part in each round, from its own seeded generator.

Both engines (local and Flower) sample through this class, so for the same seed they select
the same clients in every round. Its generator state is part of the engine's checkpoint.
"""

from __future__ import annotations

import torch


class ClientSampler:
    """Uniform sampling without replacement of `k` client ids out of `num_clients` per round."""

    def __init__(self, seed: int) -> None:
        """A sampler whose draws depend only on `seed` and the round.

        Args:
            seed: the client-sampling seed (`seeds.sampling`); nothing else draws from it.
        """
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, num_clients: int, k: int) -> list[int]:
        """`k` distinct client ids in `[0, num_clients)`, sorted."""
        if not 1 <= k <= num_clients:
            raise ValueError(f"cannot sample {k} of {num_clients} clients")
        return sorted(torch.randperm(num_clients, generator=self.generator)[:k].tolist())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])


def clients_per_round(spec: float, num_clients: int) -> int:
    """Resolve `federation.clients_per_round`: a count (>= 1) or a fraction in (0, 1)."""
    if spec <= 0:
        raise ValueError(f"clients_per_round={spec!r} must be > 0")
    k = max(1, round(spec * num_clients)) if spec < 1 else int(spec)
    return min(k, num_clients)


def data_order_seed(base: int, round_idx: int, client_id: int) -> int:
    """The seed of one client's data order in one round: a pure function of the three.

    A pure function (no generator state) keeps resumed runs identical to uninterrupted ones.
    """
    return int(
        torch.randint(
            0,
            2**31 - 1,
            (1,),
            # modulo 2**63: `manual_seed` takes 64 bits; smaller seeds keep their old value
            generator=torch.Generator().manual_seed(
                ((base * 1_000_003 + round_idx) * 1_000_003 + client_id) % 2**63
            ),
        ).item()
    )
