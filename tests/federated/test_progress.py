"""Per-round progress: plain lines when output is not a terminal, nothing when turned off."""

from __future__ import annotations

import io

from fl_lightning.federated.progress import RoundProgress, human_bytes


def _row(r: int, acc: float | None, cum_bytes: int) -> dict[str, object]:
    return {"round": r, "test/acc": acc, "comm/cum_bytes": cum_bytes}


def test_one_plain_line_per_round_when_not_a_terminal() -> None:
    stream = io.StringIO()  # what a log file or a pipe looks like
    with RoundProgress(4, 2, enabled=True, stream=stream) as bar:
        bar.end_round(_row(1, 0.5, 1500))
        bar.end_round(_row(2, None, 3_000_000))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("round 1/4  test/acc 0.5000  traffic 1.5 KB  elapsed 0:00:0")
    # a round without evaluation keeps the last accuracy; the ETA is there after a round
    assert lines[1].startswith("round 2/4  test/acc 0.5000  traffic 3.0 MB")
    assert "ETA 0:00:0" in lines[1]
    assert "\x1b[" not in stream.getvalue()  # no terminal control codes in a log


def test_resumed_run_counts_rounds_from_where_it_was() -> None:
    stream = io.StringIO()
    with RoundProgress(10, 2, enabled=True, done=7, stream=stream) as bar:
        bar.end_round(_row(8, 0.7, 10))
    assert stream.getvalue().startswith("round 8/10  test/acc 0.7000  traffic 10 B")


def test_nothing_printed_when_progress_is_off() -> None:
    stream = io.StringIO()
    with RoundProgress(3, 2, enabled=False, stream=stream) as bar:
        bar.end_round(_row(1, 0.5, 10))
    assert stream.getvalue() == ""


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (999, 1000, 1536, 2.5e9)] == [
        "999 B",
        "1.0 KB",
        "1.5 KB",
        "2.5 GB",
    ]
