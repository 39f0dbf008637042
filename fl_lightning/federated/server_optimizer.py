"""Server optimizers (FedOpt, Reddi et al. 2021, "Adaptive Federated Optimization").

The server treats `global - average of the client models` as a pseudo-gradient and steps the
global model with an optimizer from `torch.optim`: `sgd` with momentum is FedAvgM (Hsu et al.
2019), `adam` FedAdam, `adagrad` FedAdagrad, `yogi` FedYogi (the one rule `torch.optim` lacks,
`Yogi` below). `none` is plain averaging (FedAvg): the average becomes the global model, as
`sgd` with lr 1 and no momentum would give.

Only the model's trainable parameters are optimised, and only at kept positions: the
pseudo-gradient is zero at pruned ones and the result is masked again, so a pruned weight stays
exactly zero and no optimizer state grows there. Other entries of the state (normalisation
statistics, integer buffers) take the average, as under FedAvg.

Defaults follow Flower's strategies (FedAdam, FedYogi, FedAdagrad: eta, beta_1 0.9,
beta_2 0.99, tau) where Flower has one; FedAvgM's momentum 0.9 is Hsu et al.'s. `torch.optim.Adam`
corrects the moments' bias, as Flower's FedAdam does (its `eta_norm`), with epsilon added after
the square root of the bias-corrected second moment (Flower adds tau before correcting it; the
two differ by sqrt(1 - beta_2^t) in epsilon only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

import torch

from fl_lightning.pruning.mask import Mask

ServerOptimizerName = Literal["none", "sgd", "adam", "yogi", "adagrad"]
SERVER_OPTIMIZERS: tuple[ServerOptimizerName, ...] = get_args(ServerOptimizerName)

#: The server learning rate when none is given: Flower's `eta` (FedAvgM: 1, the average itself).
DEFAULT_LR: dict[str, float] = {"none": 1.0, "sgd": 1.0, "adam": 0.1, "yogi": 0.01, "adagrad": 0.1}
#: Epsilon (Flower's `tau`) when none is given.
DEFAULT_EPS: dict[str, float] = {"adam": 1e-9, "yogi": 1e-3, "adagrad": 1e-9}


class Yogi(torch.optim.Optimizer):
    """Yogi (Zaheer et al. 2018) as FedYogi uses it (Reddi et al. 2021, Algorithm 2):
    m = b1 m + (1 - b1) g;  v = v - (1 - b2) g^2 sign(v - g^2);  x = x - lr m / (sqrt(v) + eps),
    without bias correction."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-3,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        """One Yogi step on every parameter with a gradient."""
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                g2 = p.grad * p.grad
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.sub_((1 - beta2) * g2 * torch.sign(v - g2))
                p.sub_(group["lr"] * m / (v.sqrt() + group["eps"]))


class ServerOptimizer:
    """The server's update rule: global <- optimizer step along (global - average).

    Args:
        name: `none` (the average, FedAvg), `sgd` (FedAvgM), `adam`, `yogi` or `adagrad`.
        parameters: the state entries that are trainable parameters, by name (their shapes;
            the other entries take the average).
        lr: server learning rate (None: `DEFAULT_LR[name]`).
        momentum: `sgd`'s momentum.
        beta1: first-moment decay (`adam`, `yogi`).
        beta2: second-moment decay (`adam`, `yogi`).
        eps: added to the root of the second moment (None: `DEFAULT_EPS[name]`).
    """

    def __init__(
        self,
        name: ServerOptimizerName,
        parameters: Mapping[str, torch.Tensor],
        *,
        lr: float | None = None,
        momentum: float = 0.9,
        beta1: float = 0.9,
        beta2: float = 0.99,
        eps: float | None = None,
    ) -> None:
        self.name = name
        self.names = sorted(parameters)
        self.lr = DEFAULT_LR[name] if lr is None else lr
        eps = DEFAULT_EPS.get(name, 0.0) if eps is None else eps
        self.params = {
            n: torch.nn.Parameter(torch.zeros_like(parameters[n], dtype=torch.float32))
            for n in self.names
        }
        group = list(self.params.values())
        self.optimizer: torch.optim.Optimizer | None
        if name == "none":
            self.optimizer = None
        elif name == "sgd":
            self.optimizer = torch.optim.SGD(group, lr=self.lr, momentum=momentum)
        elif name == "adam":
            self.optimizer = torch.optim.Adam(group, lr=self.lr, betas=(beta1, beta2), eps=eps)
        elif name == "adagrad":
            self.optimizer = torch.optim.Adagrad(group, lr=self.lr, eps=eps)
        else:
            self.optimizer = Yogi(group, lr=self.lr, betas=(beta1, beta2), eps=eps)

    def step(
        self,
        global_state: Mapping[str, torch.Tensor],
        average: Mapping[str, torch.Tensor],
        mask: Mask,
    ) -> dict[str, torch.Tensor]:
        """The next global state from this one and the clients' (masked) average."""
        new = {k: v.clone() for k, v in average.items()}
        if self.optimizer is None:
            return new
        for name, p in self.params.items():
            p.data = global_state[name].detach().clone()
            grad = global_state[name] - average[name]
            if name in mask:
                grad = grad * mask[name]
            p.grad = grad
        self.optimizer.step()
        for name, p in self.params.items():
            value = p.detach().clone()
            if name in mask:
                value = value * mask[name]
            new[name] = value
            p.grad = None
        return new

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's moments (checkpointed with the round, so a resume is exact)."""
        return {} if self.optimizer is None else self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.optimizer is not None and state:
            self.optimizer.load_state_dict(state)
