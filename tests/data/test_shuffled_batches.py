from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fl_lightning.data.shuffled_batches import ShuffledBatches


def test_two_passes_of_five_examples_in_batches_of_two():
    images = torch.arange(5.0).reshape(5, 1)
    labels = torch.arange(5) * 10
    batches = ShuffledBatches(images, labels, 2, torch.Generator().manual_seed(3))
    iter(batches)  # Lightning's "is it iterable?" check: a pass not started draws nothing
    first = [(x.reshape(-1).tolist(), y.tolist()) for x, y in batches]
    second = [y.tolist() for _, y in batches]
    # worked out once from seed 3 (int64 draw, then randperm(5)); each image stays with its label
    assert first == [([2.0, 4.0], [20, 40]), ([3.0, 0.0], [30, 0]), ([1.0], [10])]
    assert second == [[0, 20], [10, 40], [30]]  # a new order per pass from the same generator
    assert len(batches) == 3


@pytest.mark.parametrize(("n", "batch_size"), [(5, 2), (8, 4), (7, 7), (3, 10), (50, 16)])
def test_same_batches_and_generator_state_as_a_shuffling_dataloader(n, batch_size):
    images = torch.randn(n, 1, 2, 2, generator=torch.Generator().manual_seed(n))
    labels = torch.arange(n)
    ours_g, theirs_g = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    ours = ShuffledBatches(images, labels, batch_size, ours_g)
    theirs = DataLoader(
        TensorDataset(images, labels), batch_size=batch_size, shuffle=True, generator=theirs_g
    )
    assert len(ours) == len(theirs)
    for _ in range(3):  # epochs: each pass must leave the generator where the DataLoader does
        got, want = list(ours), list(theirs)
        assert len(got) == len(want)
        for (x, y), (wx, wy) in zip(got, want, strict=True):
            assert torch.equal(x, wx) and torch.equal(y, wy) and y.dtype == wy.dtype
        assert torch.equal(ours_g.get_state(), theirs_g.get_state())


def test_refuses_what_a_dataloader_cannot_shuffle():
    g = torch.Generator()
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ShuffledBatches(torch.zeros(3, 1), torch.zeros(2), 1, g)
    with pytest.raises(ValueError, match="batch_size=0"):
        ShuffledBatches(torch.zeros(3, 1), torch.zeros(3), 0, g)
    with pytest.raises(ValueError, match="got 0"):
        ShuffledBatches(torch.zeros(0, 1), torch.zeros(0), 4, g)
