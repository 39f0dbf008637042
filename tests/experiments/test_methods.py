"""`methods.build_start`: every baseline's starting state and mask on a tiny model (the table
in `fl_lightning/experiments/methods.py`), and which methods need a DAE."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fl_lightning.commands.compare_parser import build_parser as build_compare_parser
from fl_lightning.errors import UsageError
from fl_lightning.experiments import methods
from fl_lightning.experiments.methods import (
    Method,
    Start,
    StartInputs,
    build_start,
    method_named,
    method_names,
    needs_checkpoint,
    register_method,
)
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.parsers.federate_parser import build_parser as build_federate_parser
from fl_lightning.pruning.mask import Mask
from fl_lightning.pruning.ticket import fresh_state, make_ticket
from tests.pruning.test_ticket import write_dae_checkpoint

MODEL, DATASET, SEED, SPARSITY = "mlp", "fashion_mnist", 3, 0.5


@pytest.fixture(scope="module")
def dae_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dae_checkpoint(tmp_path_factory.mktemp("methods") / "dae.ckpt", MODEL)


@pytest.fixture(scope="module")
def starts(dae_ckpt: Path) -> dict[str, Start]:
    return {
        m: build_start(
            m, model=MODEL, dataset=DATASET, init_seed=SEED, sparsity=SPARSITY, checkpoint=dae_ckpt
        )
        for m in method_names()
        if method_named(m).dae
        != "federated"  # they need a federated DAE (test_federated_dae_methods)
    }


def kept(start: Start, name: str) -> torch.Tensor:
    return start.state[name][start.mask[name]]


def test_every_full_width_method_starts_with_the_same_fresh_dense_head(
    starts: dict[str, Start],
) -> None:
    _, head = fresh_state(MODEL, DATASET, SEED)
    for method, start in starts.items():
        if method_named(method).structured:  # a narrower network: its head has fewer inputs
            continue
        assert not any(n.startswith("head.") for n in start.mask), method  # head stays dense
        for name, value in head.items():
            assert torch.equal(start.state[name], value), (method, name)


def test_dense_methods_start_from_random_or_pretrained_weights(
    starts: dict[str, Start], dae_ckpt: Path
) -> None:
    encoder, _ = fresh_state(MODEL, DATASET, SEED)
    ckpt = load_dae_checkpoint(dae_ckpt)
    assert len(starts["fedavg"].mask) == 0 and len(starts["dae_dense"].mask) == 0
    for name, value in encoder.items():
        assert torch.equal(starts["fedavg"].state[name], value)
        assert torch.equal(starts["dae_dense"].state[name], ckpt.encoder_state[name])
        assert not torch.equal(value, ckpt.encoder_state[name])  # the two starts differ
    assert starts["dae_dense"].provenance["source_sha256"] == ckpt.sha256


MASKED = ["proposed", "lth_rewind", "init_magnitude", "random_prune"]


def test_the_masked_methods_are_the_pruned_unstructured_server_ones() -> None:
    found = [
        m.name
        for m in map(method_named, method_names())
        if m.pruned and not m.structured and m.dae != "federated"
    ]
    assert found == MASKED


@pytest.mark.parametrize("method", MASKED)
def test_masked_methods_are_zero_exactly_where_pruned(
    starts: dict[str, Start], method: str
) -> None:
    start = starts[method]
    assert start.mask and all(n.startswith("encoder.") for n in start.mask)
    assert start.mask.density == pytest.approx(1 - SPARSITY, abs=0.01)
    for name, keep in start.mask.items():
        assert torch.count_nonzero(start.state[name][~keep]) == 0, name
        assert torch.count_nonzero(kept(start, name)) == int(keep.sum()), name


def test_proposed_keeps_the_largest_pretrained_weights_at_their_values(
    starts: dict[str, Start], dae_ckpt: Path
) -> None:
    start = starts["proposed"]
    pretrained = load_dae_checkpoint(dae_ckpt).encoder_state
    largest_pruned = max(float(pretrained[n][~m].abs().max()) for n, m in start.mask.items())
    smallest_kept = min(float(pretrained[n][m].abs().min()) for n, m in start.mask.items())
    assert smallest_kept >= largest_pruned  # one global magnitude threshold
    for name, keep in start.mask.items():
        assert torch.equal(kept(start, name), pretrained[name][keep])


def test_lth_rewind_has_proposeds_mask_and_the_weights_before_pretraining(
    starts: dict[str, Start], dae_ckpt: Path
) -> None:
    rewind, proposed = starts["lth_rewind"], starts["proposed"]
    initial = load_dae_checkpoint(dae_ckpt).initial_encoder_state
    assert rewind.mask == proposed.mask
    for name, keep in rewind.mask.items():
        assert torch.equal(kept(rewind, name), initial[name][keep])


def test_init_magnitude_prunes_the_random_init_by_its_own_magnitudes(
    starts: dict[str, Start],
) -> None:
    start = starts["init_magnitude"]
    encoder, _ = fresh_state(MODEL, DATASET, SEED)
    largest_pruned = max(float(encoder[n][~m].abs().max()) for n, m in start.mask.items())
    smallest_kept = min(float(encoder[n][m].abs().min()) for n, m in start.mask.items())
    assert smallest_kept >= largest_pruned
    for name, keep in start.mask.items():
        assert torch.equal(kept(start, name), encoder[name][keep])
    assert start.mask != starts["proposed"].mask


def test_random_prune_copies_proposeds_per_layer_densities_not_its_mask(
    starts: dict[str, Start],
) -> None:
    random, proposed = starts["random_prune"], starts["proposed"]
    counts = {n: int(m.sum()) for n, m in random.mask.items()}
    assert counts == {n: int(m.sum()) for n, m in proposed.mask.items()}
    assert random.mask.layer_density() == proposed.mask.layer_density()
    assert random.mask != proposed.mask
    encoder, _ = fresh_state(MODEL, DATASET, SEED)  # random init, not the DAE's weights
    for name, keep in random.mask.items():
        assert torch.equal(kept(random, name), encoder[name][keep])


def test_a_ticket_replaces_the_checkpoint_for_proposed_and_random_prune(
    dae_ckpt: Path, tmp_path: Path, starts: dict[str, Start]
) -> None:
    ticket = tmp_path / "ticket.pt"
    make_ticket(dae_ckpt, SPARSITY).save(ticket)
    for method in ("proposed", "random_prune"):
        start = build_start(
            method, model=MODEL, dataset=DATASET, init_seed=SEED, sparsity=0.9, ticket=ticket
        )
        assert start.mask.layer_density() == starts[method].mask.layer_density(), method


def test_which_methods_need_a_dae() -> None:
    assert [m for m in method_names() if needs_checkpoint(m, None)] == [
        "dae_dense",
        "proposed",
        "lth_rewind",
        "random_prune",
        "proposed_structured",
        "proposed_fdae",
        "dae_dense_fdae",
    ]
    assert [m for m in method_names() if needs_checkpoint(m, "t.pt")] == [
        "dae_dense",
        "lth_rewind",
        "proposed_fdae",
        "dae_dense_fdae",
    ]


def test_structured_methods_share_widths_and_train_no_mask(
    starts: dict[str, Start], dae_ckpt: Path
) -> None:
    proposed, random = starts["proposed_structured"], starts["random_structured"]
    assert len(proposed.mask) == 0 and len(random.mask) == 0  # dense, physically smaller
    assert proposed.widths and proposed.widths == random.widths
    for name, value in proposed.state.items():
        assert random.state[name].shape == value.shape, name  # the same narrow network
    encoder, _ = fresh_state(MODEL, DATASET, SEED)
    pretrained = load_dae_checkpoint(dae_ckpt).encoder_state
    first = next(n for n in proposed.state if n.startswith("encoder.") and n.endswith("weight"))
    assert proposed.state[first].shape[0] < encoder[first].shape[0]  # units were removed
    # proposed keeps rows of the pre-trained layer; random_structured's are not the DAE's
    rows = {tuple(r.tolist()) for r in pretrained[first]}
    assert all(tuple(r.tolist()) in rows for r in proposed.state[first])
    assert not any(tuple(r.tolist()) in rows for r in random.state[first])


def test_bad_starts_are_usage_errors(dae_ckpt: Path, tmp_path: Path) -> None:
    common = {"dataset": DATASET, "init_seed": 0, "sparsity": SPARSITY}
    with pytest.raises(UsageError, match="--method"):
        build_start("best", model=MODEL, **common)
    with pytest.raises(UsageError, match="needs a DAE checkpoint"):
        build_start("lth_rewind", model=MODEL, **common)
    with pytest.raises(UsageError, match="made for model 'mlp'"):
        build_start("dae_dense", model="cnn", checkpoint=dae_ckpt, **common)


def test_federated_dae_methods_are_their_server_twins_from_a_federated_dae(
    dae_ckpt: Path, tmp_path: Path, starts: dict[str, Start]
) -> None:
    cost = {"rounds": 2, "total_bytes": 100, "client_flops": 5.0, "client_seconds": 1.0}
    saved = torch.load(dae_ckpt, weights_only=True)
    saved["provenance"] = {"source": "clients", "federated_pretraining": cost}
    federated = tmp_path / "fdae.ckpt"
    torch.save(saved, federated)
    twins = {m: method_named(m).twin for m in method_names() if method_named(m).twin}
    assert twins == {"proposed_fdae": "proposed", "dae_dense_fdae": "dae_dense"}
    for method, twin in twins.items():
        start = build_start(
            method, model=MODEL, dataset=DATASET, init_seed=SEED, sparsity=SPARSITY,
            checkpoint=federated,
        )  # fmt: skip
        assert start.mask == starts[twin].mask, method
        assert start.state.keys() == starts[twin].state.keys()
        assert all(torch.equal(v, starts[twin].state[k]) for k, v in start.state.items())
        assert start.provenance["method"] == method
        assert start.provenance["federated_pretraining"] == cost
        with pytest.raises(UsageError, match="pre-trained on server data"):
            build_start(
                method, model=MODEL, dataset=DATASET, init_seed=SEED, sparsity=SPARSITY,
                checkpoint=dae_ckpt,
            )  # fmt: skip


def test_the_registry_holds_the_module_tables_rows_in_order() -> None:
    assert methods.__doc__
    table = re.findall(r"^\| `(\w+)` +\|", methods.__doc__, flags=re.MULTILINE)
    assert method_names() == tuple(table)
    assert len(table) == 10


def test_an_unknown_method_is_refused_listing_the_registered_ones() -> None:
    with pytest.raises(UsageError) as err:
        method_named("best")
    assert str(err.value) == (
        "--method='best' is not known; choose one of: " + ", ".join(method_names()) + "."
    )
    with pytest.raises(UsageError, match=r"^--codecs \(int8\) methods='x' is not known"):
        method_named("x", "--codecs (int8) methods")


@pytest.fixture
def restore_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a test registers is gone after it."""
    monkeypatch.setattr(
        methods.METHOD_REGISTRY, "registered", dict(methods.METHOD_REGISTRY.registered)
    )


def _zeros_start(method: str, i: StartInputs) -> Start:
    """A trivial method: the random init with every encoder weight zero, dense."""
    encoder, head = fresh_state(i.model, i.dataset, i.init_seed)
    zeros = {n: torch.zeros_like(v) for n, v in encoder.items()}
    return Start({**zeros, **head}, Mask({}), {"method": method})


def test_a_new_method_is_one_record_found_by_name(restore_registry: None) -> None:
    register_method(Method("zeros", _zeros_start))
    assert method_names()[-1] == "zeros" and not needs_checkpoint("zeros", None)
    start = build_start("zeros", model=MODEL, dataset=DATASET, init_seed=SEED, sparsity=0.5)
    assert start.provenance == {"method": "zeros"} and len(start.mask) == 0
    assert all(not v.any() for n, v in start.state.items() if n.startswith("encoder."))
    # the command line offers it, as a federation's and as a comparison's method
    assert build_federate_parser().parse_args(["--method", "zeros"]).method == "zeros"
    compare = build_compare_parser().parse_args(["--methods", "[fedavg, zeros]"])
    assert compare.methods == ["fedavg", "zeros"]
    assert build_compare_parser().get_defaults().methods[-1] == "zeros"


def test_a_record_with_impossible_values_is_refused(restore_registry: None) -> None:
    with pytest.raises(UsageError, match="'proposed' is already registered"):
        register_method(Method("proposed", _zeros_start))
    with pytest.raises(UsageError, match="structured method is a pruned one"):
        Method("narrow", _zeros_start, structured=True)
    with pytest.raises(UsageError, match="twin names the server-DAE method"):
        Method("fdae", _zeros_start, dae="federated")
    with pytest.raises(UsageError, match="twin='nope' is not known"):
        register_method(Method("fdae", _zeros_start, dae="federated", twin="nope"))
    with pytest.raises(UsageError, match="twin 'fedavg' starts from no DAE"):
        register_method(Method("fdae", _zeros_start, dae="federated", twin="fedavg"))
    assert "fdae" not in method_names()
    same = method_named("fedavg")
    assert register_method(same) is same  # registering the same record again is harmless
