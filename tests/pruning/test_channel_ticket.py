"""The structured (channel) ticket: built by hand-checkable rules, saved, and federated.

The round trip prune -> federate -> resume runs the smoke federation (the MLP, 10 tiny
clients) on a structured ticket; its payloads carry no bitmap and weigh 4 bytes a parameter
plus the header.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import torch

import fl_lightning as fl
from fl_lightning.cli import main as cli_main
from fl_lightning.commands.prune import main as prune_main
from fl_lightning.data.holdout import check_holdout
from fl_lightning.errors import UsageError
from fl_lightning.experiments.methods import build_start
from fl_lightning.federated.codec import HEADER_SIZE, encode, read_header
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.cost import forward_flops
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.pruning.channel_ticket import make_channel_ticket
from fl_lightning.pruning.mask import Mask
from fl_lightning.pruning.ticket import Ticket, fresh_state, make_ticket
from tests.smoke_runs import federate_args, without_wall_clock

from .test_ticket import write_dae_checkpoint

# The smoke MLP (784 -> 200 -> 200) at sparsity 0.8 keeps 47 of 200 units in both layers:
# 784 x 47 + 47 x 47 = 39,057 weights of 196,800 (0.7% from the requested 39,360).
WIDTHS = {"fc1": 47, "fc2": 47}
# classifier parameters: fc1 784 x 47 + 47, fc2 47 x 47 + 47, head 10 x 47 + 10
SMALL_PARAMS = 36_895 + 2_256 + 480
FULL_PARAMS = 157_000 + 40_200 + 2_010


@pytest.fixture(scope="module")
def dae_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dae_checkpoint(tmp_path_factory.mktemp("dae") / "dae.ckpt", model="mlp")


def _top_l1(weight: torch.Tensor, k: int) -> torch.Tensor:
    """The k rows of largest L1 norm, ascending (computed independently of the package)."""
    return weight.abs().sum(dim=1).argsort(descending=True)[:k].sort().values


def test_channel_ticket_keeps_the_largest_l1_units_with_their_pretrained_values(
    dae_ckpt: Path, tmp_path: Path
) -> None:
    ckpt = load_dae_checkpoint(dae_ckpt)
    ticket = make_channel_ticket(dae_ckpt, 0.8)
    assert ticket.widths == WIDTHS and len(ticket.mask) == 0 and ticket.structure == "channel"
    fc1, fc2 = ckpt.encoder_state["encoder.fc1.weight"], ckpt.encoder_state["encoder.fc2.weight"]
    k1, k2 = _top_l1(fc1, 47), _top_l1(fc2, 47)
    state = ticket.encoder_state
    assert torch.equal(state["encoder.fc1.weight"], fc1[k1])
    assert torch.equal(state["encoder.fc1.bias"], ckpt.encoder_state["encoder.fc1.bias"][k1])
    assert torch.equal(state["encoder.fc2.weight"], fc2[k2][:, k1])
    assert ticket.provenance["kept_units"] == {"fc1": k1.tolist(), "fc2": k2.tolist()}

    ticket.save(tmp_path / "t.pt")
    loaded = Ticket.load(tmp_path / "t.pt")
    assert loaded.widths == WIDTHS and loaded.encoder_state.keys() == state.keys()
    report = json.loads((tmp_path / "t.json").read_text())
    assert report["structure"] == "channel" and report["widths"] == WIDTHS
    assert report["full_widths"] == {"fc1": 200, "fc2": 200}
    assert report["kept_fraction"] == {"fc1": 0.235, "fc2": 0.235}
    assert report["kept"] == 39_057 and report["total"] == 196_800
    assert report["params"] == {"before": FULL_PARAMS, "after": SMALL_PARAMS}
    # 2 FLOPs per multiply-add of the three linear layers
    assert report["forward_flops"] == {
        "before": 2 * (784 * 200 + 200 * 200 + 200 * 10),
        "after": 2 * (784 * 47 + 47 * 47 + 47 * 10),
    }


def test_rewind_and_reinit_policies_share_the_pretrained_choice(dae_ckpt: Path) -> None:
    ckpt = load_dae_checkpoint(dae_ckpt)
    k1 = _top_l1(ckpt.encoder_state["encoder.fc1.weight"], 47)
    rewind = make_channel_ticket(dae_ckpt, 0.8, policy="rewind_init")
    initial = ckpt.initial_encoder_state["encoder.fc1.weight"]
    assert torch.equal(rewind.encoder_state["encoder.fc1.weight"], initial[k1])
    reinit = make_channel_ticket(dae_ckpt, 0.8, policy="reinit", seed=5)
    fresh, _ = fresh_state("mlp", "fashion_mnist", 5, WIDTHS)
    assert torch.equal(reinit.encoder_state["encoder.fc1.weight"], fresh["encoder.fc1.weight"])


def test_structured_payload_has_no_bitmap_and_weighs_4_bytes_a_parameter() -> None:
    model = Classifier(model="mlp", widths=WIDTHS)
    payload = encode(model.state_dict(), Mask({}), with_mask=False)
    header = read_header(payload)
    assert not header.with_mask and header.mask_bits == 0
    assert len(payload) == HEADER_SIZE + 4 * SMALL_PARAMS


def test_tickets_go_only_with_their_kind_of_method(dae_ckpt: Path, tmp_path: Path) -> None:
    make_channel_ticket(dae_ckpt, 0.8).save(tmp_path / "channel.pt")
    make_ticket(dae_ckpt, 0.8).save(tmp_path / "mask.pt")
    common = {"model": "mlp", "dataset": "fashion_mnist", "init_seed": 0, "sparsity": 0.8}
    for method in ("proposed", "random_prune"):
        with pytest.raises(UsageError, match=r"structured .*--method proposed_structured"):
            build_start(method, ticket=tmp_path / "channel.pt", **common)
    for method in ("proposed_structured", "random_structured"):
        with pytest.raises(UsageError, match=r"unstructured .*--structure channel"):
            build_start(method, ticket=tmp_path / "mask.pt", **common)
    # random_structured copies the ticket's widths, or computes the same ones without one
    by_ticket = build_start("random_structured", ticket=tmp_path / "channel.pt", **common)
    by_rule = build_start("random_structured", **common)
    assert by_ticket.widths == by_rule.widths == WIDTHS and len(by_rule.mask) == 0


def test_prune_channel_refuses_include_head(dae_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.pt"
    with pytest.raises(UsageError, match=r"--include_head.*--structure unstructured"):
        prune_main(
            ["--checkpoint", str(dae_ckpt), "--sparsity", "0.8", "--structure", "channel",
             "--include_head", "true", "--output", str(out)]
        )  # fmt: skip
    assert not out.exists()


def test_channel_ticket_carries_the_dae_hold_out_to_the_federation_check(
    dae_ckpt: Path, tmp_path: Path
) -> None:
    """The hold-out check sees a structured start's DAE, from a ticket or from the checkpoint."""
    ckpt = torch.load(dae_ckpt, map_location="cpu", weights_only=False)
    ckpt["datamodule_hyper_parameters"] = {
        "dataset": "fashion_mnist", "source": "holdout", "num_images": 512, "split_seed": 0
    }  # fmt: skip
    recorded = tmp_path / "holdout512.ckpt"
    torch.save(ckpt, recorded)
    holdout = {"dataset": "fashion_mnist", "source": "holdout", "num_images": 512, "split_seed": 0}
    fl.prune(fl.PruneConfig(str(recorded), 0.8, output=str(tmp_path / "t.pt"), structure="channel"))
    assert Ticket.load(tmp_path / "t.pt").provenance["holdout"] == holdout
    common = {"model": "mlp", "dataset": "fashion_mnist", "init_seed": 0, "sparsity": 0.8}
    starts = {
        "ticket": build_start("proposed_structured", ticket=tmp_path / "t.pt", **common),
        "checkpoint": build_start("proposed_structured", checkpoint=recorded, **common),
    }
    for option, start in starts.items():
        assert start.provenance["holdout"] == holdout
        assert start.provenance["source_checkpoint"] == os.path.relpath(recorded)  # not absolute
        check_holdout(
            start.provenance, option=option, dataset="fashion_mnist", server_images=512,
            split_seed=0,
        )  # fmt: skip
        with pytest.raises(UsageError, match="its DAE saw 512 held-out images"):
            check_holdout(
                start.provenance, option=option, dataset="fashion_mnist", server_images=100,
                split_seed=0,
            )  # fmt: skip


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_structured_ticket_prune_federate_resume(
    dae_ckpt: Path, tiny_fashion_root: Path, tmp_path: Path
) -> None:
    ticket = tmp_path / "t.pt"
    prune_main(
        ["--checkpoint", str(dae_ckpt), "--sparsity", "0.8", "--structure", "channel",
         "--output", str(ticket)]
    )  # fmt: skip
    method = (
        "--method",
        "proposed_structured",
        "--ticket",
        str(ticket),
        "--wandb.enabled",
        "false",
    )
    reference, parted = tmp_path / "reference", tmp_path / "parted"
    cli_main(federate_args(tiny_fashion_root, reference, *method, "--rounds", "3"))
    cli_main(federate_args(tiny_fashion_root, parted, *method, "--rounds", "2"))
    cli_main(federate_args(tiny_fashion_root, parted, *method, "--rounds", "3", "--resume", "true"))

    def summary(out: Path) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((out / "summary.json").read_text())
        return loaded

    assert without_wall_clock(summary(parted)) == without_wall_clock(summary(reference))
    ours = torch.load(parted / "model.pt", weights_only=True)["state_dict"]
    theirs = torch.load(reference / "model.pt", weights_only=True)["state_dict"]
    assert ours["encoder.fc1.weight"].shape == (47, 784) and ours["head.weight"].shape == (10, 47)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)

    # 4 clients a round; every payload, down and up, is the header and 4 bytes a parameter
    payload = HEADER_SIZE + 4 * SMALL_PARAMS
    for row in _rows(reference):
        assert int(row["comm/down_bytes"]) == int(row["comm/up_bytes"]) == 4 * payload
    small = Classifier(model="mlp", widths=WIDTHS)
    assert summary(reference)["flops_per_example"] == 3 * forward_flops(small, (1, 28, 28))
