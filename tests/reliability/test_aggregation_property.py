"""Property: after aggregation, and after a checkpoint round trip, a masked FedAvg is exact.

Over random masks, client counts and example counts: pruned positions are exactly 0.0 and every
kept value equals the example-weighted mean of the clients' values, computed here independently
(float64 numpy). Checked on the pure `fedavg`, through `RunFiles` checkpoints, and through the
engine's own round (encode -> decode -> validate -> fedavg) and `state_dict` / `load_state_dict`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fl_lightning.federated.aggregate import fedavg
from fl_lightning.federated.client import ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.engine import FederationConfig
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.federated.sampling import ClientSampler
from fl_lightning.federated.upload import UploadCodec, encode_update
from fl_lightning.pruning.mask import Mask

from .runs import tiny_engine

State = dict[str, torch.Tensor]


def random_mask(shapes: Mapping[str, tuple[int, ...]], density: float, seed: int) -> Mask:
    """Masks for the tensors with two or more dimensions; 1-d tensors (biases) stay dense."""
    generator = torch.Generator().manual_seed(seed)
    return Mask(
        {
            name: torch.rand(shape, generator=generator) < density
            for name, shape in shapes.items()
            if len(shape) >= 2
        }
    )


def random_states(shapes: Mapping[str, tuple[int, ...]], clients: int, seed: int) -> list[State]:
    """Client states with values everywhere, pruned positions included (they must be dropped)."""
    generator = torch.Generator().manual_seed(seed)
    return [
        {name: torch.randn(shape, generator=generator) * 3 for name, shape in shapes.items()}
        for _ in range(clients)
    ]


def assert_masked_mean(
    result: Mapping[str, torch.Tensor], states: Sequence[State], counts: Sequence[int], mask: Mask
) -> None:
    """Pruned entries are exactly 0.0; kept entries are sum(n_i * x_i) / sum(n_i)."""
    weights = np.asarray(counts, dtype=np.float64)
    for name, value in result.items():
        stacked = np.stack([s[name].numpy().astype(np.float64) for s in states])
        expected = np.tensordot(weights, stacked, axes=1) / weights.sum()
        got = value.numpy()
        assert value.dtype == torch.float32
        if name in mask:
            keep = mask[name].numpy()
            assert np.all(got[~keep] == 0.0) and not np.signbit(got[~keep]).any(), name
            np.testing.assert_allclose(got[keep], expected[keep], rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


shapes_strategy = st.dictionaries(
    st.sampled_from(["a.weight", "b.weight", "b.bias", "c.kernel"]),
    st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    shapes=shapes_strategy,
    counts=st.lists(st.integers(0, 1000), min_size=1, max_size=8),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_fedavg_and_checkpoint_round_trip(
    shapes: dict[str, tuple[int, ...]], counts: list[int], density: float, seed: int
) -> None:
    assume(sum(counts) > 0)
    mask = random_mask(shapes, density, seed)
    states = random_states(shapes, len(counts), seed + 1)
    result = fedavg(states, counts, mask)
    assert_masked_mean(result, states, counts, mask)
    with tempfile.TemporaryDirectory() as folder:
        files = RunFiles(folder)
        files.write_checkpoint({"global_state": result, "mask": mask.state_dict()})
        back = files.read_checkpoint()
    assert Mask(back["mask"]) == mask
    assert back["global_state"].keys() == result.keys()
    for name, value in result.items():
        assert torch.equal(back["global_state"][name], value), name
    assert_masked_mean(back["global_state"], states, counts, mask)


@pytest.fixture(scope="module")
def mlp_shapes(tiny_fashion_root: Path) -> dict[str, tuple[int, ...]]:
    engine = tiny_engine(tiny_fashion_root)
    return {name: tuple(v.shape) for name, v in engine.global_state.items()}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    k=st.integers(1, 6),
    counts=st.lists(st.integers(0, 500), min_size=6, max_size=6),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_engine_round_and_resume_keep_the_masked_mean(
    tiny_fashion_root: Path,
    mlp_shapes: dict[str, tuple[int, ...]],
    k: int,
    counts: list[int],
    density: float,
    seed: int,
) -> None:
    """Stub clients upload (as updates against the global model) random states through the
    codec; the engine aggregates and resumes."""
    mask = random_mask(mlp_shapes, density, seed)
    states = random_states(mlp_shapes, 6, seed + 1)  # one per client id
    federation = FederationConfig(rounds=2, clients_per_round=k)
    with tempfile.TemporaryDirectory() as folder:
        files = RunFiles(folder)
        engine = tiny_engine(tiny_fashion_root, federation=federation, mask=mask, files=files)
        sampled = ClientSampler(engine.seeds.of("sampling")).sample(6, k)
        assume(sum(counts[c] for c in sampled) > 0)
        start = dict(engine.global_state)

        def upload(r: int, job: ClientJob) -> ClientResult:
            cid = job.client_id
            payload, _ = encode_update(states[cid], start, mask, UploadCodec())
            return ClientResult(cid, payload, counts[cid], 0.0, 0.0, 0.0)

        engine.train_here = upload  # type: ignore[method-assign]
        engine.evaluate = lambda: (0.0, 0.0)  # type: ignore[method-assign]
        engine.run_round(1)
        chosen = [states[c] for c in sampled]
        assert_masked_mean(engine.global_state, chosen, [counts[c] for c in sampled], mask)

        resumed = tiny_engine(tiny_fashion_root, federation=federation, mask=mask)
        resumed.load_state_dict(files.read_checkpoint())
    assert resumed.round == 1
    for name, value in engine.global_state.items():
        assert torch.equal(resumed.global_state[name], value), name
    assert_masked_mean(resumed.global_state, chosen, [counts[c] for c in sampled], mask)
