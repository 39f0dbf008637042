"""Every figure in the README's results tables is the committed comparison's own.

The README's "Results" section and the tables it links (`results/fashion_mnist/README.md`) are
written by hand from `results/fashion_mnist/summary.json`; this test reads back every table of
both with a `partition` column (tables without one cite their own results folder) and checks
each cell against that file, formatted to the
cell's own precision, so a mistyped, stale or invented figure fails (the issue's "nothing in
the README's figures comes from a run that is not in results/").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SUMMARY = REPO / "results" / "fashion_mnist" / "summary.json"

#: to-target table column -> (summary.json field, divisor of the field for the cell)
TO_TARGET_COLUMNS: dict[str, tuple[str, float]] = {
    "final acc": ("final_test_acc", 0.01),
    "rounds": ("rounds_to_target", 1.0),
    "traffic (MB)": ("bytes_to_target", 1e6),
    "GFLOPs": ("flops_to_target", 1e9),
    "traffic vs fedavg": ("ratio_bytes_vs_fedavg", 1.0),
    "FLOPs vs fedavg": ("ratio_flops_vs_fedavg", 1.0),
    "traffic vs best dense": ("ratio_bytes_vs_best_dense", 1.0),
    "FLOPs vs best dense": ("ratio_flops_vs_best_dense", 1.0),
    "bits/param down": ("down_bits_per_param", 1.0),
    "bits/param up": ("up_bits_per_param", 1.0),
    "pre-training MB": ("pretraining_total_bytes", 1e6),
    "total traffic (MB)": ("total_bytes_to_target", 1e6),
    "total traffic vs fedavg": ("ratio_total_bytes_vs_fedavg", 1.0),
}
#: columns that have a value whether or not the target was reached
UNCOSTED = ("final acc", "bits/param down", "bits/param up", "pre-training MB")
NUMBER = r"-?[\d,]+(?:\.\d+)?"
CELL = re.compile(rf"^(?P<mean>{NUMBER})(?: ± (?P<std>{NUMBER}))?(?: ?[%x])?(?P<dagger> †)?$")
NOT_REACHED = re.compile(r"^not reached \((?P<k>\d+)/(?P<n>\d+)(?: seeds)?\)$")
BUDGET_HEADER = re.compile(rf"^(?P<rounds>\d+) rounds \((?P<mb>{NUMBER}) MB\)$")


#: where the results tables live: the README's summary, the results folder's README in full
RESULTS_README = REPO / "results" / "fashion_mnist" / "README.md"


def results_section() -> str:
    """The README's "Results" section and the tables of `results/fashion_mnist/README.md`,
    less the subsections whose tables are the server-optimizer grids' (`GRID_SUBSECTIONS`)."""
    text = (REPO / "README.md").read_text()
    start = text.index("\n## Results:")
    end = text.index("\n## ", start + 1)
    own = text[start:end]
    for title in GRID_SUBSECTIONS:
        own = own.replace(readme_subsection(title), "\n")
    return own + "\n" + RESULTS_README.read_text()


def tables(text: str) -> Iterator[list[dict[str, str]]]:
    """Each markdown table of `text` as rows of {header: cell} (bold marks removed)."""
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip().replace("**", "") for c in line.strip().strip("|").split("|")])
        elif block:
            header, body = block[0], block[2:]
            yield [dict(zip(header, row, strict=True)) for row in body]
            block = []


def formatted(value: float, like: str) -> str:
    """`value` written with as many decimals (and thousands commas) as `like`."""
    decimals = len(like.split(".")[1]) if "." in like else 0
    return f"{value:,.{decimals}f}" if "," in like else f"{value:.{decimals}f}"


def check_cell(cell: str, mean: float | None, std: float | None, scale: float, what: str) -> None:
    """A cell `M` or `M ± S` (with %, x or † after it) holds `mean` (and `std`) / `scale`."""
    match = CELL.match(cell)
    assert match, f"{what}: cell {cell!r} is not a number"
    assert mean is not None, f"{what}: README has {cell!r}, summary.json has no value"
    assert match["mean"] == formatted(mean / scale, match["mean"]), (what, cell, mean)
    if match["std"] is None:  # one seed, or no spread at this precision (fedavg's own 1.00x)
        zero = not std or float(formatted(std / scale, match["mean"]).replace(",", "")) == 0
        assert zero, f"{what}: cell {cell!r} leaves out the spread {std}"
    else:
        assert std is not None, (what, cell)
        assert match["std"] == formatted(std / scale, match["std"]), (what, cell, std)


def arm_name(row: Mapping[str, Any]) -> str:
    return str(row["method"]) + (f"+{row['codec']}" if row.get("codec") else "")


def partition_of(cell: str) -> str:
    return cell.replace(" ", "-")  # "dirichlet 0.5" -> the folder name "dirichlet-0.5"


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SUMMARY.read_text())
    return loaded


@pytest.fixture(scope="module")
def readme_tables() -> list[list[dict[str, str]]]:
    return list(tables(results_section()))


def checked_to_target_rows(
    summary: Mapping[str, Any], readme_tables: list[list[dict[str, str]]], source: str
) -> int:
    """Check every to-target row (a table with `target` and `partition` columns) of
    `readme_tables` against `summary`; the number of rows checked."""
    rows = {(r["partition"], round(r["target_acc"] * 100), arm_name(r)): r for r in summary["rows"]}
    checked = 0
    for table in readme_tables:
        for cells in table:
            if "target" not in cells or "partition" not in cells:
                continue
            target = int(cells["target"].rstrip(" %"))
            key = (partition_of(cells["partition"]), target, cells["method"])
            assert key in rows, f"README row {key} is not in {source}"
            row, what = rows[key], f"{key}"
            assert int(cells["seeds"]) == len(row["seeds"]), what
            missed = NOT_REACHED.match(cells["rounds"])
            if missed:
                assert row["rounds_to_target"] is None, what
                assert (int(missed["k"]), int(missed["n"])) == (
                    row["seeds_reached"],
                    len(row["seeds"]),
                ), what
            for column, (field, scale) in TO_TARGET_COLUMNS.items():
                cell = cells.get(column)
                if cell is None:
                    continue
                if missed and column not in UNCOSTED:  # no cost where a seed missed the target
                    assert cell in ("", "-", cells["rounds"]), (what, column, cell)
                    continue
                if cell == "-":  # no ratio: the reference did not reach the target
                    assert row[field] is None, (what, column)
                    continue
                check_cell(cell, row[field], row.get(f"{field}_std"), scale, f"{what} {column}")
            checked += 1
    return checked


def test_the_to_target_table_is_the_summary(
    summary: dict[str, Any], readme_tables: list[list[dict[str, str]]]
) -> None:
    checked = checked_to_target_rows(summary, readme_tables, SUMMARY.name)
    assert checked >= 60  # the three tables (to-target, ablations, codecs: 68 rows) were read


#: other results folders whose README has a to-target table -> the least rows it must have
OTHER_FOLDERS = {
    "fashion_mnist_fdae_int4": 6,
    "fashion_mnist_fdae_int4_e15": 6,
    "fashion_mnist_resnet8": 10,
    "fashion_mnist_server_opt": 12,
    "fashion_mnist_server_opt_dirichlet": 12,
}


@pytest.mark.parametrize("folder", sorted(OTHER_FOLDERS))
def test_other_results_folders_tables_are_their_summary(folder: str) -> None:
    path = REPO / "results" / folder
    summary = json.loads((path / "summary.json").read_text())
    readme = list(tables((path / "README.md").read_text()))
    assert (
        checked_to_target_rows(summary, readme, f"{folder}/summary.json") >= OTHER_FOLDERS[folder]
    )


#: the README's subsections whose table is read from the server-optimizer grids, not
#: results/fashion_mnist/ -> (a column the table must have, the least rows it must have)
GRID_SUBSECTIONS = {
    "Fewer rounds": ("traffic vs fedavg", 10),
    "No server data": ("total traffic vs fedavg", 7),
}
#: the results folders those tables are read from
SERVER_OPT_FOLDERS = (
    "fashion_mnist_server_opt",
    "fashion_mnist_server_opt_dirichlet",
    "fashion_mnist_fdae_int4",
)


def readme_subsection(title: str) -> str:
    """The text of the README's `### <title>...` subsection."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n### {title}")
    return text[start : text.index("\n### ", start + 1)]


@pytest.mark.parametrize("title", sorted(GRID_SUBSECTIONS))
def test_the_server_optimizer_tables_are_their_summaries(title: str) -> None:
    """The README's headline table (server optimizers and codecs) and its total-cost table
    (server DAE against federated DAE, pre-training traffic included) hold the server-optimizer
    grids' own figures, every cell."""
    rows: list[Any] = []
    for folder in SERVER_OPT_FOLDERS:
        rows += json.loads((REPO / "results" / folder / "summary.json").read_text())["rows"]
    readme = list(tables(readme_subsection(title)))
    column, least = GRID_SUBSECTIONS[title]
    assert any(column in table[0] for table in readme), title
    assert checked_to_target_rows({"rows": rows}, readme, "the server-optimizer grids") >= least


def test_the_equal_traffic_table_is_the_summary(
    summary: dict[str, Any], readme_tables: list[list[dict[str, str]]]
) -> None:
    rows = {(r["partition"], r["budget_rounds"], arm_name(r)): r for r in summary["equal_budget"]}
    checked = 0
    for table in readme_tables:
        for cells in table:
            if "partition" not in cells:
                continue
            budgets = {h: BUDGET_HEADER.match(h) for h in cells}
            for header, match in budgets.items():
                if match is None:
                    continue
                key = (partition_of(cells["partition"]), int(match["rounds"]), cells["method"])
                assert key in rows, f"README cell {key} is not in {SUMMARY.name}"
                row, what = rows[key], f"{key}"
                assert match["mb"] == formatted(row["budget_bytes"] / 1e6, match["mb"]), what
                assert int(cells["seeds"]) == len(row["seeds"]), what
                check_cell(cells[header], row["test_acc"], row["test_acc_std"], 0.01, what)
                ended_early = row["seeds_spent"] < len(row["seeds"])
                assert cells[header].endswith("†") == ended_early, (what, cells[header])
                checked += 1
    assert checked >= 42  # the equal-traffic table: 14 rows x 3 budgets


def test_the_checks_catch_a_changed_figure() -> None:
    check_cell("0.042 ± 0.003x", 0.0421, 0.0031, 1.0, "ok")
    check_cell("2,307 ± 77", 2306559146.7, 76828416.0, 1e6, "ok")
    check_cell("85.8 %", 0.858, None, 0.01, "ok")
    for cell, mean, std in [
        ("0.043 ± 0.003x", 0.0421, 0.0031),  # mean off in its last digit
        ("0.042 ± 0.004x", 0.0421, 0.0031),  # std off
        ("0.042x", 0.0421, 0.0031),  # a spread left out
        ("0.042 ± 0.003x", None, None),  # a figure with no run behind it
    ]:
        with pytest.raises(AssertionError):
            check_cell(cell, mean, std, 1.0, "bad")
    assert [len(t) for t in tables("| a | b |\n|---|---|\n| 1 | **2** |\n\ntext\n")] == [1]
