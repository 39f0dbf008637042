"""`WandbConfig`: the W&B option group of a federation (`--wandb.*`), one frozen value.

It lives with the W&B run wrapper so the federate parser (`parsers.federate_parser`), the
typed `FederateConfig` and the federated pre-training all share this one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WandbConfig:
    """W&B logging (offline unless WANDB_MODE says otherwise).

    Args:
        enabled: log this federation to one W&B run.
        project: W&B project.
        group: W&B group (compare puts one comparison in one group).
        name: run name (default: `<method>-seed<seed>`).
    """

    enabled: bool = True
    project: str = "fl-lightning"
    group: str | None = None
    name: str | None = None
