"""Bad input: each mistake gets exit code 2 and one clear message, and leaves no output behind.

The cases live in `error_cases.py`; `docs/errors.md` is generated from running them. After a
change to a message, regenerate it with

    FL_LIGHTNING_WRITE_ERRORS_MD=1 .venv/bin/pytest tests/reliability/test_bad_input.py -k docs
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from fl_lightning.cli import main
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.pruning.channel_ticket import make_channel_ticket
from fl_lightning.pruning.ticket import make_ticket

from .error_cases import CASES, ErrorCase
from .runs import REPO, federate_args

DOCS = REPO / "docs" / "errors.md"

#: Config files of `M`: a name and its text (`random.yaml` is bytes that are not UTF-8).
CONFIG_FILES = {
    "empty.yaml": "",
    "list.yaml": "- 1\n- 2\n",
    "broken.yaml": "federation: {rounds: [1\n",
    "typo.yaml": "federaton:\n  rounds: 2\n",
    "typo_group.yaml": "federation:\n  rouds: 2\n",
    "data_5.yaml": "data: 5\n",
    "federation_list.yaml": "federation: [1, 2]\n",
    "model_null.yaml": "model: null\n",
    "seeds_3.yaml": "seeds: 3\n",
    "faults_number.yaml": "federation:\n  faults: 0.3\n",
    "nan.yaml": "federation:\n  clients_per_round: .nan\n",
    "trainer_5.yaml": "trainer: 5\n",
    "bad_noise.yaml": "model:\n  noise: salt\n",
    "twice.yaml": "method: fedavg\nrounds: 2\nmethod: proposed\n",
    "twice_pretrain.yaml": "model:\n  lr: 0.1\n  noise: masking\n  lr: 10\n",
}


def _widths_off_by_one(data: dict[str, Any]) -> None:
    data["widths"] = {name: width - 1 for name, width in data["widths"].items()}


def _nan_weight(data: dict[str, Any]) -> None:
    data["encoder_state"]["encoder.fc2.weight"][0, 0] = float("nan")


def _five_class_head(data: dict[str, Any]) -> None:
    data["head_state"] = {"head.weight": torch.zeros(5, 200), "head.bias": torch.zeros(5)}


#: Hand-edited or damaged tickets of `M`: a name, the ticket it is made from, the edit.
DAMAGED_TICKETS: dict[str, tuple[str, Any]] = {
    "widths_off_ticket.pt": ("mlp_channel_ticket.pt", _widths_off_by_one),
    "huge_widths_ticket.pt": (
        "mlp_channel_ticket.pt",
        lambda d: d.update(widths={"fc1": 10**9, "fc2": 10**9}),
    ),
    "extra_tensor_ticket.pt": (
        "mlp_ticket.pt",
        lambda d: d["encoder_state"].update({"encoder.extra.weight": torch.zeros(3)}),
    ),
    "nan_ticket.pt": ("mlp_ticket.pt", _nan_weight),
    "mask_5_ticket.pt": ("mlp_ticket.pt", lambda d: d.update(mask=5)),
    "model_cnn_ticket.pt": ("mlp_ticket.pt", lambda d: d.update(model="cnn")),
    "head_5_ticket.pt": ("mlp_ticket.pt", _five_class_head),
    "format_99_ticket.pt": ("mlp_ticket.pt", lambda d: d.update(format=99)),
}


class RunsCode:
    """Unpickled, it creates the file `path` (a stand-in for any code a crafted file runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


PRETRAIN_SMOKE = REPO / "configs" / "pretrain" / "smoke.yaml"


def dae_checkpoint(path: Path, model: str) -> Path:
    """A real `DAEPretrainer` checkpoint after one step on random images."""
    torch.manual_seed(0)
    dae = DAEPretrainer(model=model, lr=0.01, images_to_log=0)
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    images: Any = torch.randn(8, 1, 28, 28)  # a DAE trains on bare image batches
    trainer.fit(dae, DataLoader(images, batch_size=8))
    trainer.save_checkpoint(path)
    return path


def with_holdout(source: Path, target: Path, num_images: int) -> Path:
    """A copy of checkpoint `source` recording a pre-training on `num_images` held-out images
    (split seed 0), as `fl-lightning pretrain` records its data module."""
    ckpt = torch.load(source, map_location="cpu", weights_only=False)
    ckpt["datamodule_hyper_parameters"] = {
        "dataset": "fashion_mnist",
        "source": "holdout",
        "num_images": num_images,
        "split_seed": 0,
    }
    torch.save(ckpt, target)
    return target


@pytest.fixture(scope="module")
def materials(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`M`: checkpoints and tickets of two models, broken files, broken data folders."""
    m = tmp_path_factory.mktemp("materials")
    for model in ("mlp", "cnn"):
        ckpt = dae_checkpoint(m / f"{model}.ckpt", model)
        make_ticket(ckpt, 0.5).save(m / f"{model}_ticket.pt")
    # DAEs that record their hold-out: 512 images (more than the runs' 100) and 100 images
    for images in (512, 100):
        with_holdout(m / "mlp.ckpt", m / f"mlp_holdout{images}.ckpt", images)
    make_ticket(m / "mlp_holdout512.ckpt", 0.5).save(m / "mlp_holdout512_ticket.pt")
    make_channel_ticket(m / "mlp.ckpt", 0.5).save(m / "mlp_channel_ticket.pt")
    for name, (source, edit) in DAMAGED_TICKETS.items():
        data = torch.load(m / source, map_location="cpu", weights_only=True)
        edit(data)
        torch.save(data, m / name)
    (m / "garbage.pt").write_bytes(b"not a torch file")
    torch.save({"state_dict": RunsCode(m / "pwned")}, m / "evil.ckpt")
    (m / "random.yaml").write_bytes(bytes(range(128, 256)) * 4)
    for name, text in CONFIG_FILES.items():
        (m / name).write_text(text)
    (m / "a_file").write_text("a file, not a folder\n")
    (m / "empty").mkdir()
    truncated = m / "truncated_gz"
    shutil.copytree(tiny_fashion_root, truncated)
    image_file = truncated / "train-images-idx3-ubyte.gz"
    image_file.write_bytes(image_file.read_bytes()[:100])
    corrupt = m / "corrupt_idx"
    shutil.copytree(tiny_fashion_root, corrupt)  # labels: a header that promises 5 items, has 3
    (corrupt / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    )
    return m


@dataclass
class Outcome:
    code: object
    message: str
    left: list[str]  # what the command created or changed on disk (placeholders for paths)

    @property
    def output_changed(self) -> bool:
        return bool(self.left)


def listing(folder: Path) -> dict[str, tuple[int, int]] | None:
    """Every file below `folder` (or `folder` itself) with its size and mtime; None if absent."""
    if not folder.exists():
        return None
    files = [folder] if folder.is_file() else [p for p in folder.rglob("*")]
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def command_args(case: ErrorCase, tiny: Path, out: Path, m: Path) -> list[str]:
    args = [a.replace("OUT", str(out)).replace("M/", f"{m}/") for a in case.args]
    if case.command == "federate":
        return ["federate", *federate_args(tiny, out), *args]
    if case.command == "prune":
        return ["prune", "--output", str(out / "ticket.pt"), *args]
    return [
        "pretrain",
        "--config",
        str(PRETRAIN_SMOKE),
        "--data.root",
        str(tiny),
        "--data.num_images",
        "100",
        "--trainer.logger",
        "false",
        "--trainer.enable_progress_bar",
        "false",
        "--output",
        str(out),
        *args,
    ]


def run_case(
    case: ErrorCase,
    tiny: Path,
    m: Path,
    tmp: Path,
    reference_run: Path | None,
    capsys: pytest.CaptureFixture[str],
) -> Outcome:
    out = tmp / "out"
    if case.prepare == "file":
        out.write_text("my notes\n")
    elif case.prepare == "checkpoint":
        out.mkdir()
        (out / "checkpoint.pt").write_bytes(b"an earlier run")
    elif case.prepare == "pretraining":
        out.mkdir()
        shutil.copy(m / "mlp.ckpt", out / "dae.ckpt")
        (out / "config.yaml").write_text("seed_everything: 0\n")
    elif case.prepare == "stale_pretraining":
        (out / "pretrain").mkdir(parents=True)
        shutil.copy(m / "mlp.ckpt", out / "pretrain" / "dae.ckpt")
    elif case.prepare == "wandb_file":
        out.mkdir()
        (out / "wandb").write_text("not a folder\n")
    elif case.prepare in ("labels_png", "foreign_file", "foreign_config"):
        out.mkdir()
        name = {"labels_png": "label_distribution.png", "foreign_config": "config.yaml"}
        (out / name.get(case.prepare, "notes.txt")).write_text("someone's file\n")
    elif case.prepare == "lock_symlink":
        out.mkdir()
        (out / "notes.txt").write_text("someone's file\n")
        (out / ".fl-lightning.lock").symlink_to("notes.txt")
    elif case.prepare == "lock_folder":
        (out / ".fl-lightning.lock").mkdir(parents=True)
    elif case.prepare != "absent":  # a copy of the finished reference run, then changed
        assert reference_run is not None
        shutil.copytree(reference_run, out)
        if case.prepare == "run_without_checkpoint":
            (out / "checkpoint.pt").unlink()
        elif case.prepare == "run_without_config":
            (out / "config.yaml").unlink()
        elif case.prepare == "run_corrupt_config":
            (out / "config.yaml").write_text("federation: {rounds: [1\n")
        elif case.prepare == "model_as_checkpoint":
            shutil.copy(out / "model.pt", out / "checkpoint.pt")
        elif case.prepare == "dae_as_checkpoint":
            shutil.copy(m / "mlp.ckpt", out / "checkpoint.pt")
        elif case.prepare == "evil_checkpoint":
            torch.save({"round": RunsCode(out / "pwned")}, out / "checkpoint.pt")
    before, materials_before = listing(out), listing(m)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(command_args(case, tiny, out, m))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    first = next(
        i for i, line in enumerate(lines) if line.startswith("error:") or ": error: " in line
    )
    # one line, the last: no usage before it (that is for --help), nothing after it
    assert first == len(lines) - 1 and "usage:" not in err, err
    message = lines[first].split("error: ", 1)[1]
    message = message.replace(str(m), "M").replace(str(out), "OUT").replace(str(tiny), "TINY")
    left = sorted(
        changes(before, listing(out), out, "OUT") + changes(materials_before, listing(m), m, "M")
    )
    return Outcome(exit_info.value.code, message, left)


def changes(
    before: dict[str, tuple[int, int]] | None,
    after: dict[str, tuple[int, int]] | None,
    root: Path,
    placeholder: str,
) -> list[str]:
    """Paths (as `placeholder/...`) created, changed or removed between two listings."""
    if before == after:
        return []
    if after is not None and before is None:
        return [f"{placeholder}/" + (" (empty)" if not after else "")] + [
            f"{placeholder}/{Path(p).relative_to(root)}" for p in after
        ]
    b, a = before or {}, after or {}
    return [
        f"{placeholder}/{Path(p).relative_to(root)}"
        for p in sorted(b.keys() | a.keys())
        if b.get(p) != a.get(p)
    ]


#: The preparations that start from a copy of the reference run.
RUN_COPIES = (
    "run",
    "run_without_checkpoint",
    "run_without_config",
    "run_corrupt_config",
    "model_as_checkpoint",
    "dae_as_checkpoint",
    "evil_checkpoint",
)


def case_id(case: ErrorCase) -> str:
    return f"{case.command}: {case.what}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_exits_2_with_one_clear_message(
    case: ErrorCase,
    tiny_fashion_root: Path,
    materials: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reference = request.getfixturevalue("reference_run") if case.prepare in RUN_COPIES else None
    outcome = run_case(case, tiny_fashion_root, materials, tmp_path, reference, capsys)
    assert outcome.code == 2
    assert case.expected in outcome.message, outcome.message
    # a known gap stays listed as one until it is fixed (then flip `leaves_output`)
    assert outcome.output_changed == case.leaves_output


def markdown(rows: list[tuple[ErrorCase, Outcome]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Usage errors",
        "",
        "Every case below was run (`tests/reliability/test_bad_input.py`, which also generates",
        "this file); each exits with code 2 and prints one line, `fl-lightning COMMAND: error:",
        "MESSAGE` (the usage only with `--help`). `TINY` is a folder of the four Fashion-MNIST IDX",
        "files, `M` a folder of prepared files (`mlp.ckpt`, `cnn.ckpt`: DAE checkpoints;",
        "`mlp_ticket.pt`, `cnn_ticket.pt`: tickets; `garbage.pt`; `a_file`; `empty/`;",
        "`evil.ckpt`: a pickle that would create `M/pwned` if loaded unsafely; `random.yaml`:",
        "bytes that are not UTF-8; the other `*.yaml`: as their names say, listed in",
        "`CONFIG_FILES` of the test;",
        "`truncated_gz/`, `corrupt_idx/`: broken data folders) and `OUT` the output. `federate`",
        "runs add `--config configs/federate/smoke.yaml --method fedavg --data.root TINY`",
        "(10 clients, 2 per round) and `--output OUT`; `prune` runs add",
        "`--output OUT/ticket.pt`; `pretrain` runs add",
        "`--config configs/pretrain/smoke.yaml --data.root TINY --output OUT`.",
        "",
        "*Output left* says whether the command changed anything on disk before it stopped.",
        "",
    ]
    for command in ("federate", "prune", "pretrain"):
        lines += [
            f"## `fl-lightning {command}`",
            "",
            "| mistake | arguments | message | output left |",
            "| --- | --- | --- | --- |",
        ]
        for case, outcome in rows:
            if case.command != command:
                continue
            before = {
                "file": " (OUT is a file)",
                "checkpoint": " (OUT holds a checkpoint.pt)",
                "run": " (OUT holds a finished 4-round run)",
                "run_without_checkpoint": " (OUT holds that run without checkpoint.pt)",
                "run_without_config": " (OUT holds that run without config.yaml)",
                "run_corrupt_config": " (OUT holds that run, config.yaml corrupt)",
                "model_as_checkpoint": " (OUT holds that run, model.pt as checkpoint.pt)",
                "dae_as_checkpoint": " (OUT holds that run, a DAE checkpoint as checkpoint.pt)",
                "evil_checkpoint": " (OUT holds that run, checkpoint.pt runs code if unpickled)",
                "pretraining": " (OUT holds a finished pre-training)",
                "stale_pretraining": " (OUT/pretrain/dae.ckpt from another hold-out)",
                "wandb_file": " (OUT/wandb is a file)",
                "labels_png": " (OUT holds only that file)",
                "foreign_file": " (OUT holds only notes.txt)",
                "foreign_config": " (OUT holds only that file)",
                "lock_symlink": " (OUT/.fl-lightning.lock links to OUT/notes.txt)",
                "lock_folder": " (OUT/.fl-lightning.lock is a folder)",
            }.get(case.prepare, "")
            args = f"`{cell(' '.join(case.args))}`" if case.args else "(none)"
            lines.append(
                f"| {cell(case.what)}{before} | {args} | {cell(outcome.message)} | "
                f"{'**yes**: ' + ', '.join(outcome.left) if outcome.left else 'no'} |"
            )
        lines.append("")
    return "\n".join(lines)


def test_docs_errors_md_lists_every_case_with_its_message(
    tiny_fashion_root: Path,
    materials: Path,
    reference_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = []
    for i, case in enumerate(CASES):
        tmp = tmp_path / str(i)
        tmp.mkdir()
        rows.append(
            (case, run_case(case, tiny_fashion_root, materials, tmp, reference_run, capsys))
        )
    text = markdown(rows)
    if os.environ.get("FL_LIGHTNING_WRITE_ERRORS_MD"):
        DOCS.write_text(text)
    assert DOCS.read_text() == text, "docs/errors.md is out of date: see this module's docstring"
