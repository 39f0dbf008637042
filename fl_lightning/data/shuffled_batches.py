"""`ShuffledBatches`: a client's training batches cut straight from its stacked tensors.

A client's data is two tensors (images, labels). A `DataLoader` over a `TensorDataset` fetches
each example on its own and stacks them again (`default_collate`), which costs more than a small
CPU step; here each batch is one indexing of the stacked tensors. The order is the one that
``DataLoader(TensorDataset(images, labels), batch_size, shuffle=True, generator=g)`` gives, draw
for draw from `g` (its iterator's base-seed draw, then the sampler's), so swapping one for the
other changes no result.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import BatchSampler, RandomSampler


class ShuffledBatches:
    """Shuffled `(images, labels)` batches, a new order per pass drawn from `generator`.

    Args:
        images: the client's examples, stacked along dimension 0.
        labels: their labels (same length as `images`).
        batch_size: examples per batch (>= 1); the last batch may be smaller.
        generator: the seeded generator of the order; every pass (epoch) draws from it, as a
            shuffling `DataLoader` with this generator does.

    Raises `ValueError` for tensors of different lengths, a batch size below 1, or no examples
    (as `DataLoader`'s shuffling sampler does).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be >= 1")
        if len(images) == 0:
            raise ValueError("num_samples should be a positive integer value, but got 0")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.generator = generator
        # torch's own sampler: the same draws from `generator` as a shuffling DataLoader's, the
        # last (empty) permutation that closes a pass included
        self._batches = BatchSampler(
            RandomSampler(range(len(images)), generator=generator), batch_size, drop_last=False
        )

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self._pass()

    def _pass(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # A DataLoader's iterator draws its workers' base seed from the generator first. Drawn
        # when the pass starts, not at `iter()`: Lightning calls `iter()` once more on an
        # iterable that is not a DataLoader, only to check that it is one.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        for indices in self._batches:
            index = torch.tensor(indices)
            yield self.images[index], self.labels[index]
