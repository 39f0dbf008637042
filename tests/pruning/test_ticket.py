"""Tickets: the three weight policies, save/load round trip, the JSON report, the baselines."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.dae import DAEPretrainer, load_dae_checkpoint
from fl_lightning.pruning.callback import IterativeMagnitudePruning
from fl_lightning.pruning.magnitude import magnitude_prune
from fl_lightning.pruning.ticket import (
    Ticket,
    fresh_state,
    init_magnitude_ticket,
    make_ticket,
    random_ticket,
)

LEAN: dict[str, Any] = {
    "accelerator": "cpu",
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def write_dae_checkpoint(path: Path, model: str = "mlp", **trainer_kwargs: Any) -> Path:
    """A real `DAEPretrainer` checkpoint after a couple of steps on random images."""
    torch.manual_seed(0)
    dae = DAEPretrainer(model=model, lr=0.01, images_to_log=0)
    images: Any = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    trainer = pl.Trainer(**{"max_steps": 2, **LEAN, **trainer_kwargs})
    trainer.fit(dae, DataLoader(images, batch_size=8))
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def dae_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dae_checkpoint(tmp_path_factory.mktemp("dae") / "dae.ckpt")


def test_three_policies_share_the_pretrained_mask(dae_ckpt: Path) -> None:
    ckpt = load_dae_checkpoint(dae_ckpt)
    expected_mask = magnitude_prune(ckpt.encoder_state, 0.9)
    tickets = {
        p: make_ticket(dae_ckpt, 0.9, policy=p, seed=7)
        for p in ("pretrained", "rewind_init", "reinit")
    }
    fresh_encoder, _ = fresh_state("mlp", "fashion_mnist", seed=7)
    sources = {
        "pretrained": ckpt.encoder_state,
        "rewind_init": ckpt.initial_encoder_state,
        "reinit": fresh_encoder,
    }
    for policy, ticket in tickets.items():
        assert ticket.mask == expected_mask
        assert set(ticket.encoder_state) == set(ckpt.encoder_state)
        for name, value in ticket.encoder_state.items():
            source = sources[policy][name]
            if name in expected_mask:
                assert torch.equal(value, torch.where(expected_mask[name], source, 0.0))
            else:  # biases stay dense and untouched
                assert torch.equal(value, source)
        assert ticket.provenance["policy"] == policy
    # the three sources really are different weights
    assert not torch.equal(
        ckpt.encoder_state["encoder.fc1.bias"], ckpt.initial_encoder_state["encoder.fc1.bias"]
    )
    assert not torch.equal(
        fresh_encoder["encoder.fc1.bias"], ckpt.initial_encoder_state["encoder.fc1.bias"]
    )


def test_reinit_is_the_classifiers_init_for_that_seed() -> None:
    before = torch.get_rng_state()
    encoder, head = fresh_state("mlp", "fashion_mnist", seed=3)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is left alone
    torch.manual_seed(3)
    model = Classifier(model="mlp")
    for name, value in {**encoder, **head}.items():
        assert torch.equal(value, model.state_dict()[name])


def test_save_load_round_trip_and_report(dae_ckpt: Path, tmp_path: Path) -> None:
    ticket = make_ticket(dae_ckpt, 0.8, scope="layer", policy="rewind_init", seed=1)
    path = tmp_path / "out" / "ticket.pt"
    report_path = ticket.save(path)
    assert report_path == tmp_path / "out" / "ticket.json"
    loaded = Ticket.load(path)
    assert loaded.model == "mlp" and loaded.dataset == "fashion_mnist"
    assert loaded.mask == ticket.mask
    assert loaded.provenance == ticket.provenance
    assert loaded.encoder_state.keys() == ticket.encoder_state.keys()
    assert all(torch.equal(loaded.encoder_state[k], v) for k, v in ticket.encoder_state.items())

    report = json.loads(report_path.read_text())
    assert report["scope"] == "layer" and report["policy"] == "rewind_init"
    total = 784 * 200 + 200 * 200
    kept = round(0.2 * 784 * 200) + round(0.2 * 200 * 200)
    assert report["total"] == total and report["kept"] == kept
    assert report["density"] == pytest.approx(kept / total)
    assert report["sparsity"] == pytest.approx(1 - kept / total)
    assert report["layers"] == [
        {
            "name": "encoder.fc1.weight",
            "shape": [200, 784],
            "kept": 31360,
            "total": 156800,
            "density": 0.2,
        },
        {
            "name": "encoder.fc2.weight",
            "shape": [200, 200],
            "kept": 8000,
            "total": 40000,
            "density": 0.2,
        },
    ]
    provenance = report["provenance"]
    assert provenance["source_sha256"] == hashlib.sha256(dae_ckpt.read_bytes()).hexdigest()
    assert provenance["source_checkpoint"] == os.path.relpath(dae_ckpt)  # not absolute
    assert (provenance["sparsity"], provenance["seed"], provenance["include_head"]) == (
        0.8,
        1,
        False,
    )


def test_load_into_a_classifier(dae_ckpt: Path) -> None:
    ticket = make_ticket(dae_ckpt, 0.9)
    model = Classifier(model="mlp")
    ticket.load_into(model)
    state = model.state_dict()
    for name, value in ticket.encoder_state.items():
        assert torch.equal(state[name], value)
    with pytest.raises(ValueError, match="does not have"):
        ticket.load_into(Classifier(model="cnn"))


def test_include_head_prunes_a_fresh_seeded_head(dae_ckpt: Path) -> None:
    ticket = make_ticket(dae_ckpt, 0.5, include_head=True, seed=2)
    assert "head.weight" in ticket.mask and set(ticket.head_state) == {"head.weight", "head.bias"}
    _, head = fresh_state("mlp", "fashion_mnist", seed=2)
    assert torch.equal(
        ticket.head_state["head.weight"],
        torch.where(ticket.mask["head.weight"], head["head.weight"], 0.0),
    )
    model = Classifier(model="mlp")
    ticket.load_into(model)
    assert torch.equal(model.head.weight.detach(), ticket.head_state["head.weight"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sparsity": 1.0}, "sparsity"),
        ({"sparsity": -0.5}, "sparsity"),
        ({"sparsity": 0.5, "scope": "bogus"}, "scope"),
        ({"sparsity": 0.5, "policy": "bogus"}, "policy"),
    ],
)
def test_make_ticket_bad_arguments(dae_ckpt: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        make_ticket(dae_ckpt, **kwargs)  # type: ignore[arg-type]


def test_ticket_from_an_iteratively_pruned_checkpoint(tmp_path: Path) -> None:
    pruner = IterativeMagnitudePruning(final_sparsity=0.5, steps=1)
    path = write_dae_checkpoint(
        tmp_path / "iter.ckpt", max_steps=-1, max_epochs=1, callbacks=[pruner]
    )
    assert pruner.mask is not None
    ticket = make_ticket(path, 0.8)
    assert ticket.provenance["iterative_mask"] is True
    for name, keep in ticket.mask.items():
        assert not (keep & ~pruner.mask[name]).any()  # nothing pruned comes back
    with pytest.raises(UsageError, match="never come back"):
        make_ticket(path, 0.3)


def test_load_rejects_what_is_not_a_ticket(tmp_path: Path, dae_ckpt: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        Ticket.load(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UsageError, match="not a readable ticket"):
        Ticket.load(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, other)
    with pytest.raises(UsageError, match="not a ticket"):
        Ticket.load(other)
    with pytest.raises(UsageError, match="not a"):
        Ticket.load(dae_ckpt)
    damaged = tmp_path / "damaged.pt"
    torch.save({"kind": "fl_lightning_ticket", "model": "mlp"}, damaged)
    with pytest.raises(UsageError, match="damaged"):
        Ticket.load(damaged)


def test_init_magnitude_ticket() -> None:
    ticket = init_magnitude_ticket("mlp", "fashion_mnist", 0.9, seed=4)
    encoder, _ = fresh_state("mlp", "fashion_mnist", seed=4)
    assert ticket.mask == magnitude_prune(encoder, 0.9)
    assert torch.equal(
        ticket.encoder_state["encoder.fc2.weight"],
        torch.where(ticket.mask["encoder.fc2.weight"], encoder["encoder.fc2.weight"], 0.0),
    )
    assert ticket.provenance["method"] == "init_magnitude"


def test_random_ticket_copies_per_layer_counts(dae_ckpt: Path) -> None:
    like = make_ticket(dae_ckpt, 0.9).mask
    ticket = random_ticket("mlp", "fashion_mnist", like, seed=5, init_seed=6)
    for name, keep in like.items():
        assert int(ticket.mask[name].sum()) == int(keep.sum())
    assert ticket.mask != like
    assert ticket.mask == random_ticket("mlp", "fashion_mnist", like, seed=5, init_seed=0).mask
    encoder, _ = fresh_state("mlp", "fashion_mnist", seed=6)
    assert torch.equal(ticket.encoder_state["encoder.fc1.bias"], encoder["encoder.fc1.bias"])
    with pytest.raises(UsageError, match="does not fit"):
        random_ticket("cnn", "fashion_mnist", like, seed=5, init_seed=6)


def test_print_shows_one_line_of_what_the_ticket_is_not_its_tensors(
    dae_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fl_lightning.pruning.channel_ticket import make_channel_ticket

    ticket = make_ticket(dae_ckpt, 0.9, policy="rewind_init")
    print(ticket)
    (line,) = capsys.readouterr().out.splitlines()  # a dataclass repr: 85 lines of tensors
    kept, total = ticket.mask.num_kept, ticket.mask.num_total
    params = sum(t.numel() for t in ticket.state().values())
    for part in (
        "model='mlp'",
        "dataset='fashion_mnist'",
        "structure='unstructured'",
        f"sparsity={1 - kept / total:.4f}",
        f"density={kept / total:.4f}",
        f"{kept:,} of {total:,} prunable weights kept",
        f"{params:,} parameters stored",
        "policy='rewind_init'",
        "from 'dae.ckpt'",
    ):
        assert part in line, line
    assert "tensor" not in line and len(line) < 300
    channel = make_channel_ticket(dae_ckpt, 0.5)
    cost = channel.provenance["cost"]["params"]
    text = repr(channel)
    assert "\n" not in text and "structure='channel'" in text and "tensor" not in text
    assert f"widths={dict(channel.widths)}" in text
    assert f"classifier parameters {cost['before']:,} -> {cost['after']:,}" in text
