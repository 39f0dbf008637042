"""summary.md's rows ranked by a cost to the target (`report.rank_by`), and its optional
`server data` column, on a hand-made comparison whose every order is worked out below."""

from __future__ import annotations

from typing import Any

import pytest

from fl_lightning.errors import UsageError
from fl_lightning.experiments.equal_budget import budget_rows
from fl_lightning.experiments.ranking import rank_curves, rank_rows
from fl_lightning.experiments.report import summary_markdown
from fl_lightning.experiments.report_options import ReportOptions
from fl_lightning.experiments.to_target import Arm, RunCurve, summary_rows

SERVER = {"source": "server", "rounds": 0, "total_bytes": 0, "client_flops": 0.0,
          "client_seconds": 0.0, "server_flops": 7e9, "server_images": 10000}  # fmt: skip
CLIENTS = {"source": "clients", "rounds": 4, "total_bytes": 50e6, "client_flops": 3e9,
           "client_seconds": 2.0, "server_flops": 0.0, "server_images": 0}  # fmt: skip


def history(accs: list[float], mb: float, gflops: float) -> list[dict[str, Any]]:
    """Rounds 1.. with these accuracies, `mb` MB and `gflops` GFLOPs per round."""
    return [
        {"round": r, "test/acc": acc, "comm/cum_bytes": r * mb * 1e6,
         "compute/cum_flops": r * gflops * 1e9, "compute/cum_client_seconds": float(r)}
        for r, acc in enumerate(accs, start=1)
    ]  # fmt: skip


def curves() -> list[RunCurve]:
    """To 80 % on iid (federation's own + pre-training = total):

    | arm           | bytes  | total bytes   | total FLOPs        |
    | fedavg        | 30 MB  | 30 MB         | 6 G                |
    | proposed      | 2 MB   | 2 MB          | 2 G                |
    | proposed_fdae | 1 MB   | 1 + 50 = 51 MB| 1 + 3 = 4 G        |
    | random_prune  | never reaches 80 %                          |

    and on dirichlet-0.5 fedavg reaches it (30 MB), proposed does not.
    """
    miss = [0.5, 0.6, 0.7]
    reach3, reach2 = [0.5, 0.7, 0.8], [0.5, 0.8, 0.9]
    iid, dir_ = "iid", "dirichlet-0.5"
    return [
        RunCurve(Arm(iid, "fedavg", None), 0, history(reach3, 10.0, 2.0)),
        RunCurve(Arm(iid, "proposed", 0.9), 0, history(reach2, 1.0, 1.0), pretraining=SERVER),
        RunCurve(Arm(iid, "proposed_fdae", 0.9), 0, history(reach2, 0.5, 0.5), pretraining=CLIENTS),
        RunCurve(Arm(iid, "random_prune", 0.9), 0, history(miss, 0.1, 0.1), pretraining=SERVER),
        RunCurve(Arm(dir_, "fedavg", None), 0, history(reach3, 10.0, 2.0)),
        RunCurve(Arm(dir_, "proposed", 0.9), 0, history(miss, 1.0, 1.0), pretraining=SERVER),
    ]


PLANNED = ["fedavg", "proposed", "proposed_fdae", "random_prune"]
ORDERS = {
    "none": PLANNED,
    "bytes": ["proposed_fdae", "proposed", "fedavg", "random_prune"],
    "total_bytes": ["proposed", "fedavg", "proposed_fdae", "random_prune"],
    "total_flops": ["proposed", "proposed_fdae", "fedavg", "random_prune"],
}


def tables(markdown: str) -> list[list[list[str]]]:
    """Each markdown table's body rows as lists of cells."""
    found: list[list[list[str]]] = []
    block: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            found.append(block)
            block = []
    return found


def report(rank_by: str, server_data: bool = False) -> str:
    found = curves()
    rows = summary_rows(found, [0.8])
    meta = {"title": "T", **ReportOptions(rank_by, server_data).meta()}  # type: ignore[arg-type]
    return summary_markdown(rows, [0.8], meta, budget_rows(found, [2]))


@pytest.mark.parametrize("rank_by", sorted(ORDERS))
def test_every_table_lists_the_rows_in_the_ranked_order(rank_by: str) -> None:
    to_target, totals, budget_iid, budget_dir = tables(report(rank_by))
    expected = ORDERS[rank_by]
    # partitions keep their order; on dirichlet proposed misses the target, so comes last
    assert [(r[0], r[1]) for r in to_target[2:]] == [
        *(("iid", m) for m in expected), ("dirichlet-0.5", "fedavg"), ("dirichlet-0.5", "proposed")
    ]  # fmt: skip
    assert [r[1] for r in totals[2:]] == [*expected, "fedavg", "proposed"]
    assert [r[0] for r in budget_iid[2:]] == expected  # the equal-traffic table: same order
    assert [r[0] for r in budget_dir[2:]] == ["fedavg", "proposed"]


def test_the_default_order_is_the_planned_one_and_says_nothing() -> None:
    assert ReportOptions().meta() == {}  # summary.json as before the option existed
    plain = report("none")
    assert plain == summary_markdown(
        summary_rows(curves(), [0.8]), [0.8], {"title": "T"}, budget_rows(curves(), [2])
    )
    assert "ranked" not in plain and "server data" not in plain
    ranked = report("total_bytes")
    assert "ranked within each partition by total traffic to the target, pre-training" in ranked
    assert "`report.rank_by: total_bytes`" in ranked


def test_rank_rows_puts_a_miss_after_every_reached_row_and_keeps_ties_planned() -> None:
    rows = [
        {"partition": "p", "method": m, "codec": None, "sparsity": None, "bytes_to_target": b}
        for m, b in [("a", None), ("b", 5.0), ("c", 3.0), ("d", 5.0), ("e", None)]
    ]
    assert [r["method"] for r in rank_rows(rows, "bytes")] == ["c", "b", "d", "a", "e"]
    assert rank_rows(rows, "none") == rows


def test_the_plots_legend_follows_the_ranking() -> None:
    found = curves()
    first = summary_rows(found, [0.8])
    ranked = rank_curves(found, first, "total_bytes")
    assert [(c.arm.partition, c.arm.method) for c in ranked] == [
        *(("iid", m) for m in ORDERS["total_bytes"]),
        ("dirichlet-0.5", "fedavg"), ("dirichlet-0.5", "proposed"),
    ]  # fmt: skip
    assert rank_curves(found, first, "none") == found


def test_the_server_data_column_says_what_each_method_needs() -> None:
    to_target = tables(report("none", server_data=True))[0]
    header = to_target[0]
    assert header[:5] == ["partition", "method", "sparsity", "server data", "seeds"]
    assert to_target[1][:4] == ["---"] * 4 and to_target[1][4] == "---:"
    cells = {(r[0], r[1]): r[3] for r in to_target[2:]}
    assert cells == {
        ("iid", "fedavg"): "none",
        ("iid", "proposed"): "10,000 unlabeled",
        ("iid", "proposed_fdae"): "none",  # the clients' own images only
        ("iid", "random_prune"): "10,000 unlabeled",  # its densities come from the server DAE
        ("dirichlet-0.5", "fedavg"): "none",
        ("dirichlet-0.5", "proposed"): "10,000 unlabeled",
    }


def test_a_bad_ranking_is_refused_naming_the_option() -> None:
    with pytest.raises(UsageError, match=r"report.rank_by='cost'.*total_bytes"):
        ReportOptions(rank_by="cost")  # type: ignore[arg-type]
    assert ReportOptions.of(None) == ReportOptions()
    assert ReportOptions.of_meta({"report": {"rank_by": "bytes"}}).rank_by == "bytes"
