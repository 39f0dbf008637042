"""The model registry: every model family the suite can build, built-in or the user's, by name.

A model family is a `ModelSpec` (`fl_lightning.models.model_spec`: the contract). It becomes
known by `register_model(spec)` (the built-ins `cnn` and `mlp` are registered this way in
`fl_lightning.models.components`), by a `module:object` name that points at one (usable in any
config or command line, `--model.model my_plugin.models:TINY`), or by an entry point of the group
`fl_lightning.models` of an installed distribution. `lookup` resolves all three and refuses an
unknown name with a `UsageError` that lists the registered ones.
"""

from __future__ import annotations

import dataclasses

from fl_lightning.errors import UsageError
from fl_lightning.models.model_spec import ModelSpec
from fl_lightning.plugins import (
    MODELS_GROUP,
    entry_point_names,
    is_reference,
    load_entry_point,
    load_reference,
)

_REGISTERED: dict[str, ModelSpec] = {}
#: References and entry points resolved in this process (not listed as registered names).
_RESOLVED: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Make `spec` known under `spec.name`; returns it. A name already registered is refused
    unless `replace`; so is a spec with impossible values."""
    if not isinstance(spec, ModelSpec):
        raise UsageError(f"register_model needs a ModelSpec, got {type(spec).__name__}.")
    _check(spec, f"model {spec.name!r}")
    if spec.name in _REGISTERED and not replace and _REGISTERED[spec.name] is not spec:
        raise UsageError(
            f"model {spec.name!r} is already registered; pass replace=True to replace it."
        )
    _REGISTERED[spec.name] = spec
    return spec


def registered_models() -> list[str]:
    """Names registered in this process and those installed plugins declare, sorted."""
    return sorted(set(_REGISTERED) | set(entry_point_names(MODELS_GROUP)))


def lookup(name: str, option: str = "model") -> ModelSpec:
    """The model family `name`: registered, a `module:object` reference or an entry point.

    `UsageError` (naming `option`) for anything else, listing the registered names.
    """
    if not isinstance(name, str):
        raise UsageError(f"{option}={name!r} must be a model name (a string).")
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _RESOLVED:
        return _RESOLVED[name]
    found: object | None = None
    if is_reference(name):
        found = load_reference(name, option)
    else:
        found = load_entry_point(MODELS_GROUP, name, option)
        if found is None:
            raise UsageError(
                f"{option}={name!r} is not known; choose one of: "
                f"{', '.join(registered_models())}, or module:object naming a ModelSpec of "
                "your own code."
            )
    if not isinstance(found, ModelSpec):
        raise UsageError(
            f"{option}={name!r} points at a {type(found).__name__}, not a "
            "fl_lightning.models.ModelSpec."
        )
    spec = dataclasses.replace(found, name=name)
    _check(spec, f"{option}={name!r}")
    _RESOLVED[name] = spec
    return spec


def _check(spec: ModelSpec, what: str) -> None:
    problems = spec.problems()
    if problems:
        raise UsageError(f"{what}: {'; '.join(problems)}.")
