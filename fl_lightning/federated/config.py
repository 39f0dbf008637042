"""The round loop's settings: `FederationConfig`, the named `Seeds` (the one seeds type: option
group and engine input), and the round loop's failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch

from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.federated.codecs.values import (
    DOWN_CODECS,
    DownCodec,
    FloatCodec,
    Rounding,
    ValueCodec,
)
from fl_lightning.federated.faults import FaultInjection
from fl_lightning.federated.sampling import clients_per_round
from fl_lightning.federated.server_optimizer import (
    SERVER_OPTIMIZERS,
    ServerOptimizer,
    ServerOptimizerName,
)
from fl_lightning.federated.upload import UploadCodec


@dataclass(frozen=True)
class FederationConfig:
    """The round loop's settings.

    Args:
        rounds: maximum number of rounds (>= 1).
        clients_per_round: clients sampled per round: a count (>= 1) or a fraction in (0, 1).
        eval_every: evaluate the global model on the test split every this many rounds (and
            always after the last one).
        target_acc: stop once the test accuracy reaches this value (None: run every round).
        dtype: value type of both directions' payloads unless `down_codec` / `up_codec` say
            otherwise (`float16` halves the traffic).
        down_codec: value codec of downloads (`float32`, `float16`, `int8`, `int4`; integer
            codecs round to nearest, a float32 scale per 256 values); None: `dtype`. Not
            `sign`: downloads carry weights, which +-scale would lose.
        down_error_feedback: the server keeps what quantising the broadcast dropped (the
            residual) and adds it to the next round's broadcast before quantising, so the
            model the clients receive tracks the true global model over rounds (DoubleSqueeze,
            EF21-P). Needs lossy downloads (`down_codec` or `dtype` float16, int8, int4).
        up_codec: value codec of uploads (which carry the update, local - global); None: `dtype`.
            `sign`: one bit a value and a float32 scale (the mean |value|) per 256 values,
            ~1.125 bits a value (signSGD); use it with `error_feedback`, which makes it
            unbiased over rounds.
        up_topk: upload only this fraction (0, 1] of the positions, the largest updates, with
            coded indices (None: all).
        error_feedback: each client keeps what its upload compression dropped and adds it to
            its next update.
        up_rounding: rounding of integer upload codecs: `nearest`, or `stochastic` (unbiased,
            from `seeds.rounding`); `sign` takes `nearest` only.
        min_clients: fewest successful client updates a round needs; below it the round is
            retried with a fresh sample.
        max_retries: retries of a round that got fewer than `min_clients` updates, before the
            run stops with an error (its last checkpoint intact).
        max_update_norm: refuse an update whose L2 distance to the global model exceeds this.
        faults: fault injection (failure probability and seed), for tests and demonstrations.
        server_optimizer: how the server turns the clients' average into the next global model
            (`federated/server_optimizer.py`): `none` takes the average (FedAvg); `sgd` (FedAvgM),
            `adam` (FedAdam), `yogi` (FedYogi), `adagrad` (FedAdagrad) step along the
            pseudo-gradient global - average, at kept positions only.
        server_lr: the server optimizer's learning rate (None: Flower's default for it: sgd 1,
            adam 0.1, yogi 0.01, adagrad 0.1).
        server_momentum: `sgd`'s momentum (FedAvgM), in [0, 1).
        server_beta1: first-moment decay of `adam` and `yogi`, in [0, 1).
        server_beta2: second-moment decay of `adam` and `yogi`, in [0, 1).
        server_eps: added to the root of the second moment (None: adam and adagrad 1e-9, yogi
            1e-3, Flower's `tau`).
    """

    rounds: int = 50
    clients_per_round: float = 10
    eval_every: int = 1
    target_acc: float | None = None
    dtype: FloatCodec = "float32"
    down_codec: DownCodec | None = None
    down_error_feedback: bool = False
    up_codec: ValueCodec | None = None
    up_topk: float | None = None
    error_feedback: bool = False
    up_rounding: Rounding = "nearest"
    min_clients: int = 1
    max_retries: int = 3
    max_update_norm: float | None = None
    faults: FaultInjection = field(default_factory=FaultInjection)
    server_optimizer: ServerOptimizerName = "none"
    server_lr: float | None = None
    server_momentum: float = 0.9
    server_beta1: float = 0.9
    server_beta2: float = 0.99
    server_eps: float | None = None

    def __post_init__(self) -> None:
        check_choice("federation.server_optimizer", self.server_optimizer, SERVER_OPTIMIZERS)
        if self.server_lr is not None and not self.server_lr > 0:  # NaN fails too
            raise UsageError(f"federation.server_lr={self.server_lr!r}: allowed a rate > 0.")
        for key in ("server_momentum", "server_beta1", "server_beta2"):
            check_range(f"federation.{key}", getattr(self, key), 0.0, 1.0)
        if self.server_eps is not None and not self.server_eps > 0:
            raise UsageError(f"federation.server_eps={self.server_eps!r}: allowed a value > 0.")

    def make_server_optimizer(self, parameters: Mapping[str, torch.Tensor]) -> ServerOptimizer:
        """The server's update rule over the model's trainable `parameters` (name -> tensor)."""
        return ServerOptimizer(
            self.server_optimizer,
            parameters,
            lr=self.server_lr,
            momentum=self.server_momentum,
            beta1=self.server_beta1,
            beta2=self.server_beta2,
            eps=self.server_eps,
        )

    @property
    def download_codec(self) -> DownCodec:
        """The value codec of downloads (`down_codec`, else `dtype`)."""
        return self.down_codec or self.dtype

    @property
    def upload(self) -> UploadCodec:
        """How clients encode their updates."""
        return UploadCodec(
            codec=self.up_codec or self.dtype,
            topk=self.up_topk,
            error_feedback=self.error_feedback,
            rounding=self.up_rounding,
        )

    def validate(self, num_clients: int) -> None:
        """`UsageError` for any value out of range, naming the option."""
        if self.rounds < 1:
            raise UsageError(f"--rounds={self.rounds!r} must be >= 1.")
        if not 0 < self.clients_per_round <= num_clients:  # NaN fails too
            raise UsageError(
                f"federation.clients_per_round={self.clients_per_round!r}: allowed a count in "
                f"[1, {num_clients}] (data.num_clients) or a fraction in (0, 1)."
            )
        if self.clients_per_round > 1 and self.clients_per_round != int(self.clients_per_round):
            raise UsageError(
                f"federation.clients_per_round={self.clients_per_round!r}: a count above 1 must "
                f"be a whole number in [1, {num_clients}]; a fraction must be in (0, 1)."
            )
        if self.eval_every < 1:
            raise UsageError(f"federation.eval_every={self.eval_every!r} must be >= 1.")
        if self.target_acc is not None and not 0 < self.target_acc <= 1:
            raise UsageError(f"federation.target_acc={self.target_acc!r}: allowed (0, 1].")
        k = clients_per_round(self.clients_per_round, num_clients)
        if not 1 <= self.min_clients <= k:
            raise UsageError(
                f"federation.min_clients={self.min_clients!r}: allowed [1, {k}] "
                "(the clients sampled per round)."
            )
        if self.max_retries < 0:
            raise UsageError(f"federation.max_retries={self.max_retries!r} must be >= 0.")
        if self.max_update_norm is not None and not self.max_update_norm > 0:
            raise UsageError(f"federation.max_update_norm={self.max_update_norm!r} must be > 0.")
        self.upload.validate("federation")
        self.validate_download()

    def validate_download(self) -> None:
        if self.download_codec not in DOWN_CODECS:  # the parser's Literal stops it; Python may not
            raise UsageError(
                f"federation.down_codec={self.download_codec!r}: downloads carry weights, which "
                f"a {self.download_codec} payload would replace by +-scale; allowed: "
                f"{', '.join(DOWN_CODECS)} or null (federation.dtype)."
            )
        if self.down_error_feedback and self.download_codec == "float32":
            raise UsageError(
                "federation.down_error_feedback=true needs a lossy download codec "
                "(federation.down_codec float16, int8 or int4); with float32 downloads the "
                "broadcast drops nothing to feed back."
            )


#: The sources of randomness, each with its own seed.
SeedSource = Literal["split", "sampling", "init", "data_order", "rounding"]
SEED_SOURCES: tuple[SeedSource, ...] = get_args(SeedSource)

#: The largest seed: every consumer takes it (numpy's and Lightning's `seed_everything` stop at
#: 2**32 - 1).
MAX_SEED = 2**32 - 1


def check_seed(option: str, value: int, note: str = "") -> None:
    """`UsageError` unless `value` is a seed every source of randomness accepts."""
    if not 0 <= value <= MAX_SEED:
        bound = "must be >= 0" if value < 0 else f"must be <= {MAX_SEED} (2**32 - 1)"
        raise UsageError(f"{option}={value!r} {note}{bound}.")


@dataclass(frozen=True)
class Seeds:
    """One seed per source of randomness: the `--seeds` option group of `fl-lightning federate`
    and what the engine draws from.

    An unset seed (None) takes `--seed` there (`filled`); where nothing fills it, it is 0 (`of`).

    Args:
        split: server hold-out and client partition (sets data.split_seed).
        sampling: which clients take part in each round.
        init: random initialisation (and every method's output layer).
        data_order: each client's batch order in each round.
        rounding: stochastic rounding of the clients' uploads (`federation.up_rounding`).
    """

    split: int | None = None
    sampling: int | None = None
    init: int | None = None
    data_order: int | None = None
    rounding: int | None = None

    def __post_init__(self) -> None:
        for source in SEED_SOURCES:
            value = getattr(self, source)
            if value is not None:
                check_seed(f"--seeds.{source}", value, "(or --seed) ")

    def of(self, source: SeedSource) -> int:
        """The seed of `source` (0 when unset)."""
        value: int | None = getattr(self, source)
        return 0 if value is None else value

    def filled(self, base: int) -> Seeds:
        """These seeds with every unset one set to `base` (checked like the others)."""
        values = {source: getattr(self, source) for source in SEED_SOURCES}
        return Seeds(**{s: base if v is None else v for s, v in values.items()})


class FederationFailed(RuntimeError):
    """A round could not gather `min_clients` updates within `max_retries` retries."""
