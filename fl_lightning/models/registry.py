"""The model registry: every model family the suite can build, built-in or the user's, by name.

A model family is a `ModelSpec` (`fl_lightning.models.model_spec`: the contract). It becomes
known by `register_model(spec)` (the built-ins `cnn` and `mlp` are registered this way in
`fl_lightning.models.components`), by a `module:object` name that points at one (usable in any
config or command line, `--model.model my_plugin.models:TINY`), or by an entry point of the group
`fl_lightning.models` of an installed distribution. `lookup` resolves all three and refuses an
unknown name with a `UsageError` that lists the registered ones.
"""

from __future__ import annotations

from fl_lightning.models.model_spec import ModelSpec
from fl_lightning.plugins import MODELS_GROUP, Registry

#: The model families known by name (`Registry`: registered, referenced or an entry point).
MODEL_REGISTRY = Registry("model", MODELS_GROUP, ModelSpec, "fl_lightning.models.ModelSpec")


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Make `spec` known under `spec.name`; returns it. A name already registered is refused
    unless `replace`; so is a spec with impossible values."""
    return MODEL_REGISTRY.register(spec, replace=replace)


def registered_models() -> list[str]:
    """Names registered in this process and those installed plugins declare, sorted."""
    return MODEL_REGISTRY.names()


def lookup(name: str, option: str = "model") -> ModelSpec:
    """The model family `name`: registered, a `module:object` reference or an entry point.

    `UsageError` (naming `option`) for anything else, listing the registered names.
    """
    return MODEL_REGISTRY.lookup(name, option)
