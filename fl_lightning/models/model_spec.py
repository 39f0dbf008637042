"""`ModelSpec`: the contract a model family (built-in or the user's) fulfils for the suite.

The suite trains `Classifier = encoder + head` by federation and pre-trains
`encoder + decoder` as a denoising autoencoder; a channel ticket narrows the encoder's hidden
layers. What each piece must be:

- `encoder(shape: ImageShape, **widths) -> nn.Module`: the feature extractor. It maps an image
  batch `(N, C, H, W)` to features `(N, F)` and has an `out_features: int` attribute (`F`). Its
  parameters are what DAE pre-training learns and what unstructured tickets mask (every weight
  of 2 or more dimensions is prunable).
- `decoder(shape: ImageShape, in_features: int) -> nn.Module` (optional): maps features
  `(N, F)` back to images `(N, C, H, W)` (linear output, normalised pixel space); the DAE's
  second half. None gives `DenseDecoder`, two fully connected layers.
- `head(in_features: int, num_classes: int) -> nn.Module` (optional): features to class logits.
  None gives `nn.Linear`, the suite's default; a channel ticket needs a head whose
  `weight` reads the features as its columns (a linear layer does).
- `widths` (optional, the *unit structure*): names of the encoder's hidden layers, in the order
  the data flows through them, that a channel ticket may narrow. Each is both a keyword
  argument of `encoder` (that layer's output units) and the attribute name of that layer
  (`encoder.<name>.weight` of shape `(units, inputs, ...)`, an optional `bias` of `(units,)`).
  Each layer must be read only by the next one in the list (the last by the head), each of
  its units by the same number of consecutive input columns (one for a conv or linear layer,
  `H x W` after flattening a conv's output). Empty: unstructured methods only.
- `units` (optional, the general unit structure, when the layers are not a chain): one
  `fl_lightning.models.units.Unit` per narrowable layer, naming its width keyword, its module
  path, the per-channel layers that follow it (normalisations) and the layers that read it
  (e.g. the second conv of a residual block reading the first). `widths` is then the units'
  width names (given or derived). Given `widths` alone, the units are the chain's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from fl_lightning.data.shape import ImageShape
from fl_lightning.models.units import Unit, chain_units


@dataclass(frozen=True)
class ModelSpec:
    """A model family: encoder, optional decoder and head, optional unit structure.

    Args:
        name: the name users type (`--model.model`); a `module:object` reference replaces it by
            the reference itself, so that name alone builds the model again.
        encoder: `encoder(shape, **widths)`, see the module docstring.
        widths: the unit structure channel tickets narrow; empty when there is none.
        decoder: `decoder(shape, in_features)`; None: `DenseDecoder`.
        head: `head(in_features, num_classes)`; None: `nn.Linear`.
        units: the general unit structure (see the module docstring); empty: `widths` is a
            chain.
    """

    name: str
    encoder: Callable[..., nn.Module]
    widths: tuple[str, ...] = ()
    decoder: Callable[[ImageShape, int], nn.Module] | None = None
    head: Callable[[int, int], nn.Module] | None = None
    units: tuple[Unit, ...] = ()

    def __post_init__(self) -> None:
        # a list of names is as good as a tuple (YAML and user code write lists)
        for key in ("widths", "units"):
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))
        if self.units and not self.widths:
            object.__setattr__(self, "widths", tuple(u.width for u in self.units))

    def unit_structure(self) -> tuple[Unit, ...]:
        """The narrowable layers: `units` as declared, else the chain of `widths`."""
        return self.units or chain_units(self.widths)

    def problems(self) -> list[str]:
        """What is wrong with this description (empty when nothing is)."""
        found = []
        if not callable(self.encoder):
            found.append("encoder must be callable as encoder(shape, **widths)")
        for key in ("decoder", "head"):
            value = getattr(self, key)
            if value is not None and not callable(value):
                found.append(f"{key} must be callable or None")
        if not isinstance(self.widths, tuple) or not all(isinstance(w, str) for w in self.widths):
            found.append(f"widths={self.widths!r} must be a tuple of layer names")
        if not all(isinstance(u, Unit) for u in self.units):
            found.append("units must be a tuple of fl_lightning.models.units.Unit")
        elif self.units and tuple(u.width for u in self.units) != self.widths:
            found.append(
                f"widths={self.widths!r} must be the units' width names "
                f"{tuple(u.width for u in self.units)!r}"
            )
        return found
