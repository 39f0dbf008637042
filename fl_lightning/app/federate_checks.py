"""Checks `fl-lightning federate` makes before any work starts, and what a resume must match.

Every check raises `UsageError` naming the option, the value and what is allowed, and writes
nothing, so a mistake leaves no partial output behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.atomic import check_can_create
from fl_lightning.config_files import with_defaults
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig, lean_trainer
from fl_lightning.federated.config import Seeds
from fl_lightning.federated.run_files import WANDB_RUN_ID_KEY, RunFiles
from fl_lightning.models.dae import file_sha256
from fl_lightning.recorded_paths import recorded_config_text, recorded_tree
from fl_lightning.run_lock import FOLDER_LOCK_NAME
from fl_lightning.tracking.metric_names import CUM_BYTES, upgrade_row
from fl_lightning.tracking.offline_reader import (
    offline_run_ids,
    offline_run_parts,
    read_offline_run,
)


def filled_seeds(seeds: Seeds, seed: int, split_seed: int | None) -> Seeds:
    """`seeds` with every unset one set to `seed`; a seed out of range, or a split seed given two
    values (`split_seed`, the data module's argument, against `seeds.split`), is refused.

    One fact, one home: the split's seed is `seeds.split`; `data.split_seed` follows it, so a
    different non-default value there would be overwritten."""
    filled = seeds.filled(seed)  # refuses a seed out of range
    if split_seed not in (None, 0, filled.split):
        raise UsageError(
            f"--data.split_seed={split_seed} and --seeds.split={filled.split} (from --seeds.split "
            "or --seed) name the same seed with two values; give --seeds.split only."
        )
    return filled


def check_output(files: RunFiles, resume: bool) -> dict[str, Any] | None:
    """Refuse an output that cannot be written, or one whose run would be overwritten.

    Creates nothing (a probe folder is made and removed in the nearest existing parent); returns
    the checkpoint to continue from with `resume`, else None. `--resume` on a folder that a run
    killed before its first checkpoint left (its pre-training, a temporary file) starts the run
    from round 0; on a missing or empty folder, or one holding anything else, it is refused
    (nothing of ours to resume: a typo?). A new run never replaces a file it did not write: a
    label_distribution.png without a checkpoint beside it is refused too.
    """
    output = str(files.dir)
    check_can_create(files.dir, "--output", folder=True)
    if (files.dir / "dae.ckpt").exists():
        raise UsageError(
            f"--output={output!r} holds a pre-training (dae.ckpt), not a federation run; choose "
            "another --output (pass the checkpoint as --checkpoint)."
        )
    if resume and (files.checkpoint.exists() or files.run_files() or not _killed_run(files)):
        return files.read_engine_checkpoint()
    if files.checkpoint.exists():
        raise UsageError(
            f"--output={output!r} already holds a federation run (checkpoint.pt): pass "
            "--resume to continue it, or choose another --output."
        )
    written = files.run_files()
    if written:
        names = ", ".join(p.name for p in written)
        raise UsageError(
            f"--output={output!r} holds the results of an earlier run ({names}) but no "
            "checkpoint.pt to continue it; choose another --output (nothing there is replaced)."
        )
    if not resume and files.labels.exists():
        raise UsageError(
            f"--output={output!r} holds a {files.labels.name} that no run of this folder wrote "
            "(there is no checkpoint.pt); choose another --output (nothing there is replaced)."
        )
    return None


def _killed_run(files: RunFiles) -> bool:
    """Whether the folder holds what a run killed before its first checkpoint leaves (its
    automatic pre-training, a temporary file of a run file) and nothing else (the lock apart):
    only such a folder is a run that `--resume` may start from round 0."""
    if not files.dir.is_dir():
        return False
    found = [p for p in files.dir.iterdir() if p.name != FOLDER_LOCK_NAME]
    own = [p for p in found if files.is_temporary(p) or (p.name == "pretrain" and p.is_dir())]
    return bool(found) and own == found


#: Options that may differ when a run is resumed: where and how it shows, not what it computes.
RESUMABLE_OPTIONS = (
    "output",
    "resume",
    "progress",
    "verbose",
    "rounds",
    "federation.rounds",
    "wandb.",
    "flower.",
    "data.root",
    "pretrain_config",
    "pretrain_overrides",
    "provenance",
)


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flat(value, f"{prefix}{key}."))
    return {k.removesuffix("."): v for k, v in flat.items()}


def recorded_options() -> dict[str, Any]:
    """The defaults as a run records its options (config.yaml, nested): what an option missing
    from an older record was."""
    text = recorded_config_text(FederateConfig().to_yaml())
    recorded: dict[str, Any] = yaml.safe_load(text) or {}
    return recorded


def check_resume_config(
    files: RunFiles,
    config_text: str,
    checkpoint: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> None:
    """`--resume` must continue a run with the options it started with (bar `RESUMABLE_OPTIONS`).

    The options are the checkpoint's own copy of config.yaml (older checkpoints have none: then
    config.yaml), so a removed or edited config.yaml cannot let other options in. A
    `--checkpoint` at another path is the same option when it is the same file, by the sha256
    the run recorded (a moved run, or a moved comparison whose pre-trainings moved with it).
    """
    saved_text = checkpoint.get("config")
    source = f"{files.checkpoint}"
    if not isinstance(saved_text, str):
        if not files.config.is_file():
            return
        saved_text, source = files.config.read_text(errors="replace"), str(files.config)
    try:
        # recorded: a run started before paths were recorded relative compares the same
        saved = _flat(
            with_defaults(recorded_tree(yaml.safe_load(saved_text) or {}), defaults or {})
        )
    except yaml.YAMLError as err:
        raise UsageError(
            f"--resume: the run's options in {source} are unreadable ({_first_line(err)}); "
            "start a new run in another --output."
        ) from None
    now = _flat(yaml.safe_load(config_text) or {})
    changed = [
        key
        for key in sorted(saved.keys() | now.keys())
        if saved.get(key) != now.get(key)
        and not key.startswith(RESUMABLE_OPTIONS)
        and not (key == "checkpoint" and _same_checkpoint(saved, now))
    ]
    if changed:
        shown = ", ".join(f"{k}={now.get(k)!r} (was {saved.get(k)!r})" for k in changed[:4])
        raise UsageError(
            f"--resume: options differ from the run in {str(files.dir)!r}: {shown}"
            f"{' ...' if len(changed) > 4 else ''}; resume with its options (--config "
            f"{files.config} --resume true) or start a new run in another --output."
        )


def _same_checkpoint(saved: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether `now`'s --checkpoint is the DAE checkpoint the run started from, found at another
    path (a moved run or comparison folder): its sha256 is the one the run recorded."""
    recorded = saved.get("provenance.source_sha256")
    path = now.get("checkpoint")
    if not (saved.get("checkpoint") and path and recorded) or not Path(path).is_file():
        return False
    return bool(file_sha256(Path(path)) == recorded)


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def check_accelerator(client: ClientConfig) -> None:
    """`UsageError` unless a client Trainer can be built with `client.accelerator` here."""
    try:
        lean_trainer(client, [])
    except Exception as err:  # Lightning's MisconfigurationException, ValueError, ...
        raise UsageError(
            f"client.accelerator={client.accelerator!r} cannot be used on this machine ({err})."
        ) from None


def wandb_run_id(files: RunFiles, resumed: dict[str, Any] | None) -> str | None:
    """The id of the W&B run an earlier part of the run in `files.dir` logged to, if any.

    It is the one its checkpoint.pt names (`WANDB_RUN_ID_KEY`). A checkpoint of an older
    version names none: then the first W&B run in the folder that logged federation rounds,
    never another command's (a `prune` or `compare` writing its W&B run into the same folder
    logs no rounds); None when there is no such run (a new one is started).
    """
    if resumed is None:
        return None
    recorded = resumed.get(WANDB_RUN_ID_KEY)
    if isinstance(recorded, str) and recorded:
        return recorded
    ids = offline_run_ids(files.dir / "wandb")
    return next((i for i in ids if wandb_rounds_logged(files.dir, i)), None)


def wandb_rounds_logged(directory: Path, run_id: str | None) -> set[int]:
    """Rounds that earlier parts of W&B run `run_id` wrote to disk (a killed one may have none)."""
    rounds: set[int] = set()
    for part in offline_run_parts(directory / "wandb", run_id) if run_id else []:
        try:
            history = read_offline_run(part)["history"]
        except Exception:  # a part killed mid-write reads as far as it can, or not at all
            continue
        rounds.update(int(row["round"]) for row in map(upgrade_row, history) if CUM_BYTES in row)
    return rounds


def check_reused_pretraining(ckpt: Path, config: FederateConfig) -> None:
    """`UsageError` unless the auto pre-training at `ckpt` is the one this run would make.

    A DAE pre-trained on another hold-out (split seed, image count, dataset) has seen images
    that are this run's client data, so it is never reused: the message says what differs.
    """
    import torch

    try:
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        data = dict(saved.get("datamodule_hyper_parameters") or {})
        model = (saved.get("fl_lightning") or {}).get("model")
    except Exception as err:
        raise UsageError(
            f"{ckpt} (an earlier automatic pre-training) is unreadable ({_first_line(err)}); "
            "delete it or choose another --output."
        ) from None
    wanted = {
        "dataset": config.data.dataset,
        "num_images": config.data.server_images,
        "split_seed": config.data.split_seed,
        "model": config.model.model,
    }
    found = {**{k: data.get(k) for k in ("dataset", "num_images", "split_seed")}, "model": model}
    differ = [f"{k}={found[k]!r} (this run: {v!r})" for k, v in wanted.items() if found[k] != v]
    if differ:
        raise UsageError(
            f"{ckpt} was pre-trained for another run ({', '.join(differ)}); its hold-out is not "
            "this run's, so it is not reused: delete it or choose another --output."
        )
