"""Provenance of a starting point: which held-out images a DAE saw, and the checks on it.

The server's held-out images are a prefix of one seeded permutation of the training set
(`server_split(N, num_images, split_seed)`), and the clients get the rest. A DAE pre-trained on
more held-out images than the run's `data.server_images`, with another `split_seed`, or on
another dataset, has seen some clients' images: `check_holdout` refuses it. A smaller hold-out
with the same seed is a subset of the run's and is allowed. Checkpoints and tickets carry the
hold-out in their provenance (`holdout_provenance`); every command that starts from one checks it
here, so the rule lives in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fl_lightning.errors import UsageError

log = logging.getLogger(__name__)


def holdout_provenance(datamodule_hparams: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`{"dataset", "source", "num_images", "split_seed"}` of a DAE checkpoint's data module
    hyper-parameters; None when the checkpoint does not record them."""
    if not datamodule_hparams or "num_images" not in datamodule_hparams:
        return None
    source = datamodule_hparams.get("source", "holdout")
    return {
        "dataset": datamodule_hparams.get("source_dataset") or datamodule_hparams.get("dataset")
        if source == "dataset"
        else datamodule_hparams.get("dataset"),
        "source": source,
        "num_images": int(datamodule_hparams["num_images"]),
        "split_seed": int(datamodule_hparams.get("split_seed", 0)),
    }


def check_holdout(
    provenance: Mapping[str, Any],
    *,
    option: str,
    dataset: str,
    server_images: int,
    split_seed: int,
    value: str | None = None,
) -> None:
    """`UsageError` (exit 2) unless the images behind `provenance` are within the run's hold-out.

    `provenance` is a ticket's or start's provenance (`holdout` and `source_checkpoint` keys);
    one without a DAE behind it passes. One from before hold-outs were recorded passes with a
    warning (it cannot be checked). A message names `option` with `value`, the file as the user
    gave it (default: the provenance's checkpoint).
    """
    holdout = provenance.get("holdout")
    source = provenance.get("source_checkpoint")
    if holdout is None:
        if source is not None:
            log.warning(
                "%s: %s does not record which held-out images its DAE saw; cannot check that "
                "they are disjoint from the clients' data (pre-train again to record them).",
                option,
                source,
            )
        return
    if holdout.get("source") == "clients":
        return  # federated on the clients' own images (`pretrain --federated`): none held out
    if holdout.get("source") == "dataset":
        if holdout.get("dataset") == dataset:
            raise UsageError(
                f"{option}: its DAE was pre-trained on the whole {dataset!r} training set "
                f"(data.source=dataset), the clients' data included; pre-train on a hold-out."
            )
        return  # images of another dataset: no client image among them
    shown = value or source
    where = f"{option}={shown!r}" if shown else option
    if holdout.get("dataset") != dataset:
        raise UsageError(
            f"{where}: its DAE was pre-trained on {holdout.get('dataset')!r}, but this run "
            f"federates {dataset!r} (data.dataset)."
        )
    if int(holdout["split_seed"]) != split_seed:
        raise UsageError(
            f"{where}: its DAE's held-out images were drawn with split_seed="
            f"{holdout['split_seed']}, but this run splits with data.split_seed={split_seed} "
            "(--seed / --seeds.split): the two hold-outs differ, so the DAE has seen client "
            "images. Pre-train with the same split seed."
        )
    if int(holdout["num_images"]) > server_images:
        raise UsageError(
            f"{where}: its DAE saw {holdout['num_images']} held-out images, but this run holds "
            f"out only data.server_images={server_images}: the other "
            f"{int(holdout['num_images']) - server_images} are client images. Pre-train on at "
            f"most {server_images} images (data.num_images) or raise data.server_images."
        )
