"""Boolean options work as bare flags, with a value, and negated."""

from __future__ import annotations

import pytest

from fl_lightning.parsers.federate_parser import build_parser
from fl_lightning.parsers.flags import bool_options, expand_bare_flags


def test_bool_options_of_federate_include_nested_ones() -> None:
    options = bool_options(build_parser())
    assert {"--resume", "--progress", "--wandb.enabled"} <= options
    assert "--rounds" not in options


@pytest.mark.parametrize(
    ("argv", "resume", "progress"),
    [
        ([], False, True),
        (["--resume"], True, True),  # as the README and the error messages write it
        (["--resume", "--progress"], True, True),
        (["--resume", "true"], True, True),
        (["--resume", "false"], False, True),
        (["--resume=false"], False, True),
        (["--no_resume"], False, True),
        (["--no_progress", "--resume"], True, False),
        (["--progress", "no", "--rounds", "3", "--resume"], True, False),
    ],
)
def test_bare_valued_and_negated_flags(argv: list[str], resume: bool, progress: bool) -> None:
    parser = build_parser()
    cfg = parser.parse_args(expand_bare_flags(argv, bool_options(parser)))
    assert (cfg.resume, cfg.progress) == (resume, progress)


def test_values_of_other_options_are_left_alone() -> None:
    assert expand_bare_flags(["--output", "--resume"], {"--resume"}) == [
        "--output",
        "--resume=true",
    ]
    assert expand_bare_flags(["--rounds", "3"], {"--resume"}) == ["--rounds", "3"]
