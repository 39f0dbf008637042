"""The engine's transport seam, driven by a fake transport that loses and spoils deliveries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig, ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.codec import decode, payload_size, read_header
from fl_lightning.federated.engine import FederationConfig, RoundEngine, Seeds
from fl_lightning.federated.transport import RoundHost
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names

T = TypeVar("T")


class FakeTransport:
    """Client 0 is never reached; client 1 trains but its node loses the mask and answers with
    an error (in round 1 only); every other delivery goes through the engine's own client step."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int, bool]] = []  # (round, client, download carried the mask)
        self.served: list[str] = []
        self.uploads: dict[tuple[int, int], bytes] = {}

    def serve(self, host: RoundHost, loop: Callable[[], T]) -> T:
        self.served.append(f"open {host.setup.num_clients} sparse={host.setup.sparse}")
        result = loop()
        self.served.append("closed")
        return result

    def deliver(
        self, r: int, jobs: list[ClientJob], host: RoundHost
    ) -> list[ClientResult | Exception]:
        self.served.append(f"round {r}")
        replies: list[ClientResult | Exception] = []
        for job in jobs:
            self.log.append((r, job.client_id, read_header(job.payload).with_mask))
            if r == 1 and job.client_id == 0:
                replies.append(ConnectionError("unreachable"))
                continue
            host.sent(job)
            result = host.train_here(r, job)
            if r == 1 and job.client_id == 1:
                host.mask_lost(1)
                replies.append(RuntimeError("node crashed before saving its state"))
            else:
                self.uploads[(r, job.client_id)] = result.payload
                replies.append(result)
            host.client_done()
        return replies


def _engine(root: Path, transport: Any) -> RoundEngine:
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.05)
    data = FederatedDataModule(
        root=str(root), num_clients=3, server_images=100, max_client_examples=20,
        max_test_examples=50, test_batch_size=50,
    )  # fmt: skip
    return RoundEngine(
        model=model,
        initial_state={k: v.clone() for k, v in model.state_dict().items()},
        mask=magnitude_prune(model, 0.8, names=prunable_names(model)),
        data=data,
        client=ClientConfig(batch_size=10, accelerator="cpu"),
        federation=FederationConfig(rounds=2, clients_per_round=3, min_clients=1),
        seeds=Seeds(),
        transport=transport,
    )


def test_engine_counts_and_resends_the_mask_as_its_transport_reports(
    tiny_fashion_root: Path,
) -> None:
    fake = FakeTransport()
    engine = _engine(tiny_fashion_root, fake)
    start = dict(engine.global_state)
    with_mask = payload_size(start, engine.mask, with_mask=True, codec="float32")
    values = payload_size(start, engine.mask, with_mask=False, codec="float32")
    after: list[dict[str, torch.Tensor]] = []
    engine.run(on_round=lambda row: after.append(dict(engine.global_state)))
    # the whole loop ran inside serve, one deliver per round
    assert fake.served == ["open 3 sparse=True", "round 1", "round 2", "closed"]
    first, second = engine.history
    # round 1: only clients 1 and 2 were handed their (mask-carrying) download
    assert first["comm/down_bytes"] == 2 * with_mask
    assert (first["clients/failed"], first["clients/participated"]) == (2, 1)
    # round 2: client 0 was never reached and client 1 lost its mask: both get it again
    carried = {cid: mask for r, cid, mask in fake.log if r == 2}
    assert carried == {0: True, 1: True, 2: False}
    assert second["comm/down_bytes"] == 2 * with_mask + values
    assert second["comm/up_bytes"] == 3 * values
    # round 1's global model is the start plus client 2's update alone (the only one arrived)
    upload, _ = decode(fake.uploads[(1, 2)], start, engine.mask, reference=start)
    assert first["comm/up_bytes"] == len(fake.uploads[(1, 2)]) == values
    for name, value in upload.items():
        torch.testing.assert_close(after[0][name], value, rtol=0, atol=1e-7)
