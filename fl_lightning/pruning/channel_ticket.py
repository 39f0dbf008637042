"""The structured ticket: a DAE encoder cut to its strongest channels and neurons.

`make_channel_ticket` keeps, in every hidden layer, the units with the largest L1 norm of
pre-trained weights (`fl_lightning.pruning.structured`), at the widths of the uniform rule, and
cuts the encoder to them (`fl_lightning.models.surgery`). The result is a `Ticket` with an
empty mask and `widths`: a smaller dense network that federation trains like any other, whose
payloads carry no bitmap and whose FLOPs are its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from fl_lightning.data.sources import dataset_info
from fl_lightning.errors import check_choice, check_range
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.components import build_encoder, model_spec, unit_layers
from fl_lightning.models.cost import forward_flops, parameter_count
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.models.surgery import narrow_encoder_state
from fl_lightning.models.units import Unit, full_widths, weight_count
from fl_lightning.pruning.mask import Mask
from fl_lightning.pruning.structured import (
    NORMS,
    Norm,
    check_kept_params,
    fraction_widths,
    select_kept,
    uniform_widths,
)
from fl_lightning.pruning.ticket import POLICIES, Policy, Ticket, fresh_state
from fl_lightning.recorded_paths import recorded_path
from fl_lightning.version import __version__

Structure = Literal["unstructured", "channel"]
STRUCTURES: tuple[str, ...] = ("unstructured", "channel")
#: What needs a model's unit structure, as users ask for it.
CHANNEL_TICKET = "a channel ticket (prune --structure channel, --method proposed_structured)"


def _units(model: str) -> tuple[Unit, ...]:
    """The narrowable layers of `model`, or a `UsageError` when it declares none."""
    unit_layers(model, CHANNEL_TICKET)
    return model_spec(model).unit_structure()


def _chain_shapes(model: str, dataset: str) -> tuple[list[str], list[tuple[int, ...]]]:
    """The width names of a chain model and the full-width weight shapes of those layers."""
    names = list(unit_layers(model, CHANNEL_TICKET))
    encoder = build_encoder(model, dataset_info(dataset).shape)
    params = dict(encoder.named_parameters())
    return names, [tuple(params[f"{n}.weight"].shape) for n in names]


def _count(model: str, dataset: str) -> Callable[[Mapping[str, int]], int]:
    """Weights of `model`'s encoder at given widths (`weight_count`)."""
    spec, shape = model_spec(model), dataset_info(dataset).shape
    return lambda widths: weight_count(spec.encoder, shape, widths)


def channel_widths(model: str, dataset: str, sparsity: float) -> dict[str, int]:
    """The widths (one kept fraction for every layer) keeping `1 - sparsity` of the encoder's
    weights, within 2%.

    A chain keeps the search of `uniform_widths`; declared units (`ModelSpec.units`, e.g.
    ResNet-8's block-internal channels) use `fraction_widths` with their width multiples.
    Depends on the architecture only, so the proposed structured ticket and its random-init
    baseline get the same widths without sharing a file.
    """
    check_range("--sparsity", sparsity, 0.0, 1.0)
    units = _units(model)
    spec = model_spec(model)
    if not spec.units:
        names, shapes = _chain_shapes(model, dataset)
        widths = dict(zip(names, uniform_widths(shapes, sparsity), strict=True))
    else:
        full = full_widths(spec.encoder, dataset_info(dataset).shape, units)
        multiples = {u.width: u.multiple for u in units}
        widths = fraction_widths(full, _count(model, dataset), sparsity, multiples)
    count = _count(model, dataset)
    check_kept_params(count(widths), count({}), sparsity)
    return widths


def cost_report(model: str, dataset: str, widths: dict[str, int]) -> dict[str, Any]:
    """Weights, parameters and forward FLOPs of the classifier before (full) and after (`widths`),
    and one row per narrowed layer (shape after, weights kept / total, kept fraction of units)."""
    info = dataset_info(dataset)
    input_shape = (info.channels, info.height, info.width)
    with torch.random.fork_rng(devices=[]):
        full = Classifier(model=model, dataset=dataset)
        small = Classifier(model=model, dataset=dataset, widths=widths)
    full_params = dict(full.named_parameters())
    small_params = dict(small.named_parameters())
    layers = []
    for unit in _units(model):
        name = f"encoder.{unit.layer}.weight"
        weight, total = small_params[name], full_params[name].numel()
        n = int(full_params[name].shape[0])
        layers.append(
            {
                "name": name,
                "shape": list(weight.shape),
                "kept": weight.numel(),
                "total": total,
                "density": weight.numel() / total,
                "width": widths[unit.width],
                "full_width": n,
                "kept_fraction": widths[unit.width] / n,
            }
        )
    count = _count(model, dataset)
    return {
        "weights": {"before": count({}), "after": count(widths)},
        "params": {"before": parameter_count(full), "after": parameter_count(small)},
        "forward_flops": {
            "before": forward_flops(full, input_shape),
            "after": forward_flops(small, input_shape),
        },
        "layers": layers,
    }


def make_channel_ticket(
    checkpoint: str | os.PathLike[str],
    sparsity: float,
    policy: Policy = "pretrained",
    seed: int = 0,
    norm: Norm = "l1",
) -> Ticket:
    """The `proposed_structured` ticket: keep each hidden layer's highest-`norm` units.

    Args:
        checkpoint: a `fl-lightning pretrain` checkpoint.
        sparsity: fraction of the encoder's weights to remove, in [0, 1); whole units go, at
            one kept fraction for every hidden layer (`uniform_widths`).
        policy: values of the kept units: `pretrained` (the DAE's), `rewind_init` (before
            pre-training) or `reinit` (fresh at the narrow widths, from `seed`). The units
            are always chosen by the pre-trained weights.
        seed: model-init seed for `reinit`.
        norm: unit score, `l1` (default) or `l2`.
    """
    check_range("sparsity", sparsity, 0.0, 1.0)
    check_choice("policy", policy, POLICIES)
    check_choice("norm", norm, NORMS)
    ckpt = load_dae_checkpoint(Path(checkpoint), option="--checkpoint")
    widths = channel_widths(ckpt.model, ckpt.dataset, sparsity)
    units = _units(ckpt.model)
    names = [u.width for u in units]
    kept = select_kept(
        {u.width: ckpt.encoder_state[f"encoder.{u.layer}.weight"] for u in units}, widths, norm
    )
    if policy == "reinit":
        encoder, _ = fresh_state(ckpt.model, ckpt.dataset, seed, widths)
    else:
        source = ckpt.encoder_state if policy == "pretrained" else ckpt.initial_encoder_state
        encoder, _ = narrow_encoder_state(ckpt.model, source, kept)
    provenance: dict[str, Any] = {
        "method": "channel_magnitude",
        "structure": "channel",
        "norm": norm,
        "source_checkpoint": recorded_path(ckpt.path),
        "source_sha256": ckpt.sha256,
        "holdout": ckpt.holdout,
        "sparsity": sparsity,
        "scope": "uniform",
        "policy": policy,
        "seed": seed,
        "widths": widths,
        "kept_units": {n: kept[n].tolist() for n in names},
        "cost": cost_report(ckpt.model, ckpt.dataset, widths),
        "fl_lightning_version": __version__,
    }
    return Ticket(ckpt.model, ckpt.dataset, encoder, Mask({}), provenance, widths=widths)
