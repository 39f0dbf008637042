"""Finished models you can load: `fl.load_model(run_dir)` and `fl-lightning evaluate --run DIR`
give the accuracy the run's summary.json records, from model.pt in either layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import fl_lightning as fl
from fl_lightning.cli import main
from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.channel_ticket import channel_widths

from ..smoke_runs import federate_args


@pytest.fixture(scope="module")
def structured_run(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-round run of a narrower network (random_structured: no pre-training)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    main(
        federate_args(
            tiny_fashion_root, out, "--method", "random_structured", "--sparsity", "0.5",
            "--rounds", "2", "--wandb.enabled", "false",
        )
    )  # fmt: skip
    return out


def recorded(run: Path) -> tuple[float, float]:
    summary = json.loads((run / "summary.json").read_text())
    return summary["final_test_acc"], summary["history"][-1]["test/loss"]


def test_model_pt_carries_what_rebuilds_the_model(structured_run: Path) -> None:
    saved = torch.load(structured_run / "model.pt", weights_only=True)
    assert saved["format"] == 2 and saved["fl_lightning_version"] == fl.__version__
    record = saved["model"]
    assert record["model"] == "mlp" and record["dataset"] == "fashion_mnist"
    assert record["widths"] == channel_widths("mlp", "fashion_mnist", 0.5)
    assert record["widths"]["fc1"] < 200  # narrower than the family's width
    assert set(saved) >= {"state_dict", "mask"}


def test_load_model_and_evaluate_give_the_recorded_accuracy(
    structured_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acc, loss = recorded(structured_run)
    model = fl.load_model(structured_run)
    assert isinstance(model, Classifier) and not model.training
    evaluation = fl.evaluate_run(structured_run)
    assert evaluation.accuracy == acc and evaluation.examples == 200
    assert evaluation.loss == pytest.approx(loss, rel=1e-6)
    main(["evaluate", "--run", str(structured_run)])
    printed = capsys.readouterr().out
    assert f"test/acc {acc:.4f}, test/loss {loss:.4f} on 200 test images" in printed


def test_the_first_model_pt_layout_is_read_with_config_yaml(
    structured_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """{state_dict, mask} alone, as runs before the record wrote it: widths from the weights."""
    old = tmp_path / "old_run"
    old.mkdir()
    for name in ("config.yaml", "summary.json"):
        (old / name).write_bytes((structured_run / name).read_bytes())
    saved = torch.load(structured_run / "model.pt", weights_only=True)
    torch.save({"state_dict": saved["state_dict"], "mask": saved["mask"]}, old / "model.pt")
    acc, loss = recorded(old)
    assert fl.evaluate_run(old).accuracy == acc
    main(["evaluate", "--run", str(old)])
    assert f"test/acc {acc:.4f}, test/loss {loss:.4f}" in capsys.readouterr().out


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--run='.*' holds no model.pt"):
        fl.load_model(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(UsageError, match=r"model\.pt is not readable"):
        fl.load_model(tmp_path)


def test_a_ticket_is_evaluated_as_the_model_a_federation_starts_from(
    tiny_fashion_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ticket's masked encoder and the fresh head of the config's init seed (0)."""
    from fl_lightning.pruning.ticket import Ticket, fresh_state, make_ticket

    from ..pruning.test_ticket import write_dae_checkpoint
    from ..smoke_runs import SMOKE_CONFIG

    ticket_path = tmp_path / "ticket.pt"
    make_ticket(write_dae_checkpoint(tmp_path / "dae.ckpt"), 0.8).save(ticket_path)
    evaluation = fl.evaluate_ticket(ticket_path, SMOKE_CONFIG, root=str(tiny_fashion_root))
    # the same model built another way: the ticket's own `load_into` and `fresh_state`'s head
    model = Classifier(model="mlp", dataset="fashion_mnist")
    _, head = fresh_state("mlp", "fashion_mnist", seed=0)
    model.load_state_dict({**model.state_dict(), **head})
    Ticket.load(ticket_path).load_into(model)
    from fl_lightning.data.modules import FederatedDataModule

    data = FederatedDataModule(
        root=str(tiny_fashion_root), num_clients=10, server_images=256, max_test_examples=500
    )
    accuracy, loss = model.evaluate(data.test_dataloader())
    assert (evaluation.accuracy, evaluation.loss) == pytest.approx((accuracy, loss), rel=1e-6)
    main(["evaluate", "--ticket", str(ticket_path), "--config", str(SMOKE_CONFIG),
          "--data.root", str(tiny_fashion_root)])  # fmt: skip
    assert f"test/acc {accuracy:.4f}" in capsys.readouterr().out
    with pytest.raises(UsageError, match="give either --run DIR"):
        from fl_lightning.commands.evaluate import main as evaluate_main

        evaluate_main([])
