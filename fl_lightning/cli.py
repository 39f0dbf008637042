"""`fl-lightning`: the command line. One `main(args=None)`, one subcommand per step of the method.

    fl-lightning pretrain   DAE pre-training of the feature extractor (LightningCLI)
    fl-lightning prune      magnitude pruning of a DAE checkpoint into a lottery ticket
    fl-lightning federate   FedAvg of a (sparse) model; bytes, FLOPs and seconds counted
    fl-lightning compare    the methods side by side: traffic and compute to a target
    fl-lightning evaluate   test accuracy and loss of a finished run's model

Each subcommand lives in `fl_lightning.commands.<name>` as `main(argv)`. A `UsageError` raised
anywhere (a bad option value, a missing file) is printed as one line and exits with code 2.
SIGINT and SIGTERM stop a command cleanly with one line and exit code 130 or 143
(`fl_lightning.interrupts`).
"""

from __future__ import annotations

import difflib
import importlib
import sys

from fl_lightning.errors import UsageError
from fl_lightning.interrupts import Interrupted, stop_on_signals
from fl_lightning.parsers.config_args import packaged_config_args
from fl_lightning.version import __version__

COMMANDS: dict[str, str] = {
    "pretrain": "Pre-train the classifier's feature extractor as a denoising autoencoder.",
    "prune": "Prune a DAE checkpoint by weight magnitude into a lottery ticket.",
    "federate": "Run FedAvg on the (sparse) model; count every byte, FLOP and second.",
    "compare": "Run the methods side by side; traffic and compute to a target accuracy.",
    "evaluate": "Test accuracy and loss of a finished run's model (its model.pt).",
}


def _usage() -> str:
    lines = [
        "usage: fl-lightning {" + ",".join(COMMANDS) + "} [options]",
        "",
        "Communication-efficient federated learning with DAE-pre-trained lottery tickets.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    lines += [
        "",
        "`fl-lightning COMMAND --help` lists a command's options; every command takes",
        "--config FILE.yaml (see configs/) and --print_config.",
    ]
    return "\n".join(lines)


def main(args: list[str] | None = None) -> None:
    """Entry point of `fl-lightning` and `python -m fl_lightning`."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return
    if argv[0] == "--version":
        print(f"fl-lightning {__version__}")
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, list(COMMANDS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        _fail(
            "fl-lightning",
            f"unknown command {command!r}{hint}; choose one of: {', '.join(COMMANDS)}.",
        )
    try:
        # From the start: a Ctrl-C while torch imports is a stop like any other, not a traceback.
        # As the process's entry point (args=None), a second signal while it stops is ignored.
        with stop_on_signals(exiting=args is None):
            module = importlib.import_module(f"fl_lightning.commands.{command}")
            module.main(packaged_config_args(rest))
    except UsageError as err:
        _fail(f"fl-lightning {command}", str(err))
    except Interrupted as err:
        # One line, no traceback; 130 / 143 as a shell reports a process a signal ended.
        detail = err.detail or f"interrupted ({err.signal_name}); nothing further was written"
        print(f"fl-lightning {command}: {detail}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None


def _fail(prog: str, message: str) -> None:
    # One line, unwrapped: paths and option names stay whole (and greppable); a message that
    # quotes a library's multi-line text (torch's unpickling errors) is joined onto it.
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"{prog}: error: {line}", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    main()
