"""The comparison grid: every method x sparsity x partition x seed, run with `app.federate`.

    OUTPUT/pretrain/seed<S>/                     one DAE pre-training per seed, shared by all runs
    OUTPUT/runs/<partition>/<method>[-s<sparsity>][+<codec>]/seed<S>/   one federation

The codec axis: each named `CodecSpec` (its federate overrides, e.g. int8 payloads or top-k
uploads with error feedback) runs for its own list of methods, beside the plain runs; its run
folders and report rows carry the setting's name (`fedavg+int8`).

All runs of one seed share `seed: S` (the data split, client sampling and init seeds) and, for
the methods that need a DAE, the same checkpoint: the server hold-out is drawn before the
clients' partition, so one pre-training serves every partition of that seed. A given
`Grid.checkpoint` replaces the pre-trainings (every seed then shares that one checkpoint).

Restarting an interrupted comparison with the same config and output reuses every finished run
(its completion marker DONE.json exists, written after summary.json and model.pt), continues
an unfinished one from its checkpoint.pt (`resume`) and keeps each seed's pre-training; a
finished run whose config.yaml differs from what the grid asks now is refused rather than
silently mixed in. `finished_runs` reads what has finished so far without running anything (the
report of a comparison still running elsewhere: `compare --report_only`).

The federations run one after the other here, in N worker processes (`--jobs N`) or as Ray
tasks (`--executor ray`); see `grid_executors`. Each seed's pre-training runs first, here. A run
that fails is reported while the others go on; `GridFailed` names every failed run at the end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentParser, Namespace

from fl_lightning.app.federate_checks import recorded_options
from fl_lightning.app.federate_resolution import resolved
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.federation import federate, pretrain_config_for, summary_lines
from fl_lightning.app.grid_fdae import FdaeSpec, fdae_checkpoint, fdae_folder
from fl_lightning.app.grid_fdae_wandb import fdae_wandb
from fl_lightning.app.pretraining import CHECKPOINT_NAME, PretrainConfig, pretrain
from fl_lightning.atomic import atomic_write_json
from fl_lightning.config_files import with_defaults
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.data.partition import PartitionName
from fl_lightning.errors import UsageError
from fl_lightning.experiments.grid_executors import Execution, ItemsInterrupted, run_all
from fl_lightning.experiments.grid_progress import GridProgress
from fl_lightning.experiments.methods import find_method, method_named
from fl_lightning.experiments.pretraining_cost import pretraining_cost
from fl_lightning.experiments.to_target import Arm, RunCurve
from fl_lightning.federated.progress import RoundLines
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.models.dae import file_sha256
from fl_lightning.parsers.config_keys import check_options_file
from fl_lightning.parsers.federate_parser import build_parser, federate_tree
from fl_lightning.recorded_paths import recorded_arg, recorded_config_text

#: config.yaml keys that may differ between a finished run and the grid's request (a moved
#: comparison folder keeps its runs).
#: Not compared when a finished run is reused: how it shows, and where files were found from.
_VOLATILE_KEYS = (
    "resume",
    "progress",
    "verbose",
    "config",
    "output",
    "wandb",
    "provenance",
    "pretrain_config",
)


@dataclass(frozen=True)
class PartitionSpec:
    """One client partition of the grid.

    Args:
        name: partitioner: `iid`, `dirichlet` (label skew) or `shards`.
        alpha: Dirichlet concentration (for `dirichlet`; None keeps the federate config's).
        shards_per_client: shards per client (for `shards`; None keeps the federate config's).
        label: folder and report name (default: `iid`, `dirichlet-<alpha>`, `shards-<n>`).
    """

    name: PartitionName = "iid"
    alpha: float | None = None
    shards_per_client: int | None = None
    label: str | None = None

    @property
    def folder(self) -> str:
        if self.label:
            return self.label
        if self.name == "dirichlet" and self.alpha is not None:
            return f"dirichlet-{self.alpha:g}"
        if self.name == "shards" and self.shards_per_client is not None:
            return f"shards-{self.shards_per_client}"
        return self.name

    def values(self) -> dict[str, Any]:
        """The federate config values that select this partition."""
        data: dict[str, Any] = {"partition": self.name}
        if self.alpha is not None:
            data["alpha"] = self.alpha
        if self.shards_per_client is not None:
            data["shards_per_client"] = self.shards_per_client
        return {"data": data}


@dataclass(frozen=True)
class CodecSpec:
    """A named codec setting of the grid's codec axis, run for each of `methods`.

    Args:
        name: the setting's name (`int8`, `topk1-ef`, ...): run folder and report suffix.
        methods: the methods (of the grid's list or not) run with this setting.
        overrides: the federate arguments of the setting, e.g.
            ['--federation.down_codec=int8', '--federation.up_codec=int8'].
    """

    name: str
    methods: Sequence[str] = ()
    overrides: Sequence[str] = ()


@dataclass(frozen=True)
class Grid:
    """What to run and where (built by `fl-lightning compare` from its YAML)."""

    federate_config: str
    methods: Sequence[str]
    sparsities: Sequence[float]
    partitions: Sequence[PartitionSpec]
    seeds: Sequence[int]
    output: Path
    overrides: Sequence[str] = ()
    wandb_enabled: bool = True
    wandb_project: str = "fl-lightning"
    wandb_group: str = "compare"
    verbose: bool = False  # the libraries' own messages too (`--verbose`)
    checkpoint: str | None = None
    codecs: Sequence[CodecSpec] = ()
    row_seeds: Mapping[str, Sequence[int]] = field(default_factory=dict)
    #: the federated DAE pre-training of the `_fdae` rows (one per partition and seed)
    fdae: FdaeSpec = field(default_factory=FdaeSpec)

    def codec(self, name: str) -> CodecSpec:
        """The codec setting called `name`."""
        return next(c for c in self.codecs if c.name == name)


class GridFailed(RuntimeError):
    """Some runs of the grid failed (the others finished and are kept for the next attempt)."""


@dataclass(frozen=True)
class PlannedRun:
    """One federation of the grid."""

    arm: Arm
    partition: PartitionSpec
    seed: int
    directory: Path

    def describe(self) -> str:
        sparsity = f" (sparsity {self.arm.sparsity:g})" if self.arm.sparsity is not None else ""
        codec = f" with codec {self.arm.codec}" if self.arm.codec is not None else ""
        return f"{self.arm.method}{sparsity}{codec}, {self.arm.partition}, seed {self.seed}"


def plan_runs(grid: Grid) -> list[PlannedRun]:
    """Every run, seed-major (a seed's results are complete before the next seed starts);
    within a partition the plain methods first, then each codec setting's methods. A row named
    in `row_seeds` runs only its own seeds."""
    arms: list[tuple[str, str | None]] = [(m, None) for m in grid.methods]
    arms += [(m, c.name) for c in grid.codecs for m in c.methods]
    runs: list[PlannedRun] = []
    for seed in grid.seeds:
        for part in grid.partitions:
            for method, codec in arms:
                sparsities: list[float | None] = (
                    [*grid.sparsities] if method_named(method).pruned else [None]
                )
                for sparsity in sparsities:
                    arm = Arm(part.folder, method, sparsity, codec)
                    if seed not in grid.row_seeds.get(arm.name, grid.seeds):
                        continue  # a row that runs fewer seeds (`row_seeds`)
                    path = grid.output / "runs" / part.folder / arm.label / f"seed{seed}"
                    runs.append(PlannedRun(arm, part, seed, path))
    return runs


def federate_parser() -> ArgumentParser:
    """The federate parser, raising instead of exiting so a bad override names the grid."""
    parser = build_parser()
    parser.exit_on_error = False
    return parser


def run_values(grid: Grid, run: PlannedRun, checkpoint: str | None) -> dict[str, Any]:
    """The federate config values of one run (they win over the config and the overrides)."""
    values: dict[str, Any] = {**run.partition.values(), "method": run.arm.method}
    if run.arm.sparsity is not None:
        values["sparsity"] = run.arm.sparsity
    values |= {
        "seed": run.seed,
        "output": str(run.directory),
        "progress": False,
        "verbose": grid.verbose,
    }
    values["wandb"] = {"name": f"{run.arm.partition}/{run.arm.label}/seed{run.seed}"}
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    return values


def codec_overrides(grid: Grid, run: PlannedRun) -> list[str]:
    """The federate arguments of `run`'s codec setting (none for a plain run)."""
    return [] if run.arm.codec is None else list(grid.codec(run.arm.codec).overrides)


def run_config(
    parser: ArgumentParser,
    grid: Grid,
    values: dict[str, Any],
    what: str,
    codec: Sequence[str] = (),
) -> Namespace:
    """The federate config of one run: the grid's config file, its W&B settings, the user's
    overrides, the run's codec setting (`codec`, federate arguments), then `values`; a mistake
    becomes a `UsageError` naming `what`."""
    wandb = {"enabled": grid.wandb_enabled, "project": grid.wandb_project}
    try:
        cfg = parser.parse_path(grid.federate_config)
        if cfg.get("pretrain_config"):  # a path in the YAML means one beside the YAML
            cfg.pretrain_config = resolve_config_path(
                cfg.pretrain_config, "pretrain_config", [Path(grid.federate_config).resolve()]
            )
        cfg = parser.parse_object({"wandb": {**wandb, "group": grid.wandb_group}}, namespace=cfg)
        if grid.overrides:  # user-typed federate options, e.g. "--rounds=20"
            cfg = parser.parse_args(list(grid.overrides), namespace=cfg)
        if codec:
            cfg = parser.parse_args(list(codec), namespace=cfg)
        return parser.parse_object(values, namespace=cfg)
    except Exception as err:  # jsonargparse's ArgumentError (or a YAML error)
        raise UsageError(f"{what}: the federate arguments are invalid: {err}") from None


def check_grid(grid: Grid) -> list[PlannedRun]:
    """Validate every run's options before any work starts; returns the plan.

    Each run's arguments are parsed, resolved and range-checked, and its data and federation
    settings built and validated (as `federate` does when the run starts), so a bad partition
    or option of the last run stops the comparison before the first one.
    """
    parser = federate_parser()
    check_options_file("--federate_config", grid.federate_config, parser.get_defaults())
    methods = dict.fromkeys([*grid.methods, *(m for c in grid.codecs for m in c.methods)])
    pruned = [m for m in methods if method_named(m).pruned]
    if pruned and not grid.sparsities:
        raise UsageError(
            f"--sparsities=[]: the pruned methods ({', '.join(pruned)}) need at least one "
            "sparsity; give one or leave them out of --methods (and --codecs)."
        )
    runs = plan_runs(grid)
    checked: set[tuple[str, ...]] = set()
    for run in runs:
        what = f"run {run.describe()}"
        cfg = run_config(
            parser, grid, run_values(grid, run, None), what, codec_overrides(grid, run)
        )
        try:
            config = resolved(_federate_config_of(cfg))
            key = (run.partition.folder, str(run.seed), run.arm.codec or "")
            if key not in checked:  # data and federation settings of each partition x seed x codec
                checked.add(key)
                data = config.data.module()
                data.setup()
                config.federation.validate(data.num_clients)
        except UsageError as err:
            raise UsageError(f"{what}: {err}") from None
    return runs


def pretrain_for_seed(grid: Grid, seed: int, parser: ArgumentParser, *, train: bool = True) -> str:
    """The DAE checkpoint of `seed`: pre-trained once into OUTPUT/pretrain/seed<S>/.

    An existing pre-training made with other arguments than the grid asks for is refused
    (`UsageError`); with `train=False` a missing one is not made (its path is returned).
    """
    out = grid.output / "pretrain" / f"seed{seed}"
    cfg = resolve(run_config(parser, grid, {"seed": seed}, f"seed {seed}"))
    base = pretrain_config_for(_federate_config_of(cfg), out)
    # compare shows its own progress; a second live display would clash with it
    quiet = {"trainer.enable_progress_bar": False, "trainer.enable_model_summary": False}
    config = PretrainConfig(base.config, base.output, base.settings, (*base.args, *_flags(quiet)))
    args = config.cli_args()
    ckpt = out / CHECKPOINT_NAME
    record = out / "compare_pretrain_args.json"
    if ckpt.is_file():
        if record.is_file() and _placeless(json.loads(record.read_text())) != _placeless(args):
            raise UsageError(
                f"{out} was pre-trained with other arguments than this comparison asks for; "
                "delete it or choose another --output."
            )
        return str(ckpt)
    if not train:
        return str(ckpt)
    if grid.verbose:  # how it shows, not what it computes: not part of the record
        config = replace(config, args=(*config.args, "--verbose=true"))
    if grid.wandb_enabled and not _sets_logger(cfg):
        logger = {
            "trainer.logger.init_args.group": grid.wandb_group,
            "trainer.logger.init_args.name": f"pretrain/seed{seed}",
        }
        config = PretrainConfig(
            config.config, config.output, config.settings, (*config.args, *_flags(logger))
        )
    pretrain(config, config_option="--pretrain_config")
    atomic_write_json(record, [recorded_arg(arg) for arg in args])
    return str(ckpt)


def federated_dae_for(
    grid: Grid, run: PlannedRun, parser: ArgumentParser, *, train: bool = True
) -> str:
    """The federated DAE checkpoint of `run`'s partition and seed (`grid_fdae`): made once into
    OUTPUT/pretrain_fdae/<partition>/seed<S>/ (with `train=False` only its path), logged to
    its own W&B run when the grid's W&B is on (`grid_fdae_wandb`)."""
    cfg = _resolved_run_config(parser, grid, run, None)
    out = fdae_folder(grid.output, run.partition.folder, run.seed)
    config = _federate_config_of(cfg)
    wandb = fdae_wandb(config.wandb, run.partition.folder, run.seed)
    return fdae_checkpoint(config, grid.fdae, out, train=train, wandb=wandb)


def _placeless(args: Sequence[str]) -> list[str]:
    """Pre-training arguments without where they were read and written (`--config FILE`,
    `--output DIR`): a moved comparison folder or repository keeps its pre-trainings, as
    `_VOLATILE_KEYS` lets it keep its runs."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--config", "--output"):
            skip = True
        elif not arg.startswith(("--config=", "--output=")):
            kept.append(recorded_arg(arg))  # an older record may hold absolute paths
    return kept


def _flags(settings: dict[str, Any]) -> list[str]:
    return PretrainConfig(settings=settings).cli_args()


def _sets_logger(cfg: Namespace) -> bool:
    """Whether the pre-training config or overrides choose their own logger (then keep it)."""
    text = yaml.safe_load(Path(cfg.pretrain_config).read_text()) or {}
    in_yaml = "logger" in (text.get("trainer") or {})
    return in_yaml or any(a.startswith("--trainer.logger") for a in cfg.pretrain_overrides)


def _comparable(config_text: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """A run's options as compared with what a grid asks for: an option the record lacks
    (added since) at its default, bar what may differ (`_VOLATILE_KEYS`)."""
    config = with_defaults(yaml.safe_load(config_text) or {}, defaults)
    comparable = {k: v for k, v in config.items() if k not in _VOLATILE_KEYS}
    method = find_method(config.get("method"))  # None: a record without a known method
    if method is None or not method.needs_checkpoint(config.get("ticket")):
        comparable.pop("checkpoint", None)  # a method without a DAE never reads it
    elif comparable.get("checkpoint") and config.get("output"):
        comparable["checkpoint"] = grid_relative(comparable["checkpoint"], config["output"])
    if method is None or not method.pruned:
        comparable.pop("sparsity", None)  # dense: recorded as none since 0.2, 0.9 before
    return comparable


def _found(
    config_text: str, cfg: Namespace, wanted: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """A finished run's comparable config (`_comparable`), where a `proposed` run that started
    from a ticket counts as the run that prunes the DAE checkpoint `cfg` names itself (`wanted`:
    `cfg`'s comparable config) if the ticket is that pruning: made from that checkpoint
    (sha256) at the run's sparsity and scope, with the pre-trained weights and a dense head.
    `make demo` federates its ticket once; its comparison reuses that run."""
    config = yaml.safe_load(config_text) or {}
    found = _comparable(config_text, defaults)
    given = cfg.method == "proposed" and cfg.checkpoint and not cfg.ticket
    if not (given and config.get("ticket") and not config.get("checkpoint")):
        return found
    pruned_here = {
        "source_sha256": file_sha256(Path(cfg.checkpoint)),
        "sparsity": cfg.sparsity,
        "scope": cfg.scope,
        "policy": "pretrained",
        "include_head": False,
    }
    provenance = config.get("provenance") or {}
    if any(provenance.get(k) != v for k, v in pruned_here.items()):
        return found
    return {**found, "ticket": wanted.get("ticket"), "checkpoint": wanted.get("checkpoint")}


def grid_relative(checkpoint: str, run_output: str) -> str:
    """`checkpoint` as `OUTPUT/...` when it lies in the comparison folder of the run whose
    folder is `run_output` (OUTPUT/runs/<partition>/<arm>/seed<S>, so OUTPUT is three levels
    up): a seed's own pre-training then compares equal wherever the folder is, or however its
    path is spelled (moved, copied, relative). Any other checkpoint is returned as given."""
    root = Path(os.path.abspath(run_output)).parents[3]
    path = Path(os.path.abspath(checkpoint))
    return (
        f"OUTPUT/{path.relative_to(root).as_posix()}" if path.is_relative_to(root) else checkpoint
    )


def run_one(
    parser: ArgumentParser, grid: Grid, run: PlannedRun, checkpoint: str | None
) -> tuple[dict[str, Any], bool]:
    """Run (or reuse, or resume) one federation; returns its summary and whether it ran."""
    cfg = _resolved_run_config(parser, grid, run, checkpoint)
    if RunFiles(run.directory).complete:  # not summary.json: model.pt is written after it
        return _checked_summary(run, cfg), False
    cfg.resume = (run.directory / "checkpoint.pt").is_file()
    config = _federate_config_of(cfg)
    summary = federate(config, on_round=RoundLines(run.describe(), config.federation.rounds))
    for line in summary_lines(summary, run.directory):
        print(line)
    return summary, True


def _resolved_run_config(
    parser: ArgumentParser, grid: Grid, run: PlannedRun, checkpoint: str | None
) -> Namespace:
    values = run_values(grid, run, checkpoint)
    return resolve(run_config(parser, grid, values, run.describe(), codec_overrides(grid, run)))


def _checked_summary(run: PlannedRun, cfg: Namespace) -> dict[str, Any]:
    """The summary of the finished `run`, once the options it ran with are checked against
    `cfg`, what the grid asks for now: a finished run made with another config, or one whose
    options cannot be read, is refused (`UsageError`) rather than silently mixed in."""
    defaults = recorded_options()
    wanted = _comparable(recorded_config_text(_federate_config_of(cfg).to_yaml()), defaults)
    if _found(_run_options(run), cfg, wanted, defaults) != wanted:
        raise UsageError(
            f"{run.directory} holds a finished run made with another config than this "
            "comparison asks for; delete it or choose another --output."
        )
    summary: dict[str, Any] = json.loads((run.directory / "summary.json").read_text())
    return summary


def _run_options(run: PlannedRun) -> str:
    """The options the finished `run` ran with, as config.yaml text: its checkpoint.pt's own
    copy (which a removed or edited config.yaml cannot change), else config.yaml (a run from
    before checkpoints carried one); `UsageError` when neither is there to check."""
    files = RunFiles(run.directory)
    text = files.recorded_config()
    if text is not None:
        return text
    if files.config.is_file():
        return files.config.read_text(errors="replace")
    raise UsageError(
        f"{run.directory} holds a finished run whose options are gone (no config.yaml, and no "
        "checkpoint.pt that records them), so it cannot be checked against this comparison; "
        "delete it or choose another --output."
    )


def finished_runs(grid: Grid) -> tuple[list[RunCurve], list[PlannedRun]]:
    """The grid's finished runs as curves (in plan order) and the runs not finished yet.

    Runs and pre-trains nothing, and takes no lock: it reads while the grid may be running in
    another process (a run counts once its completion marker exists). Finished runs and
    pre-trainings are checked against what the grid asks for, as when running (`UsageError`).
    """
    parser = federate_parser()
    check_options_file("--federate_config", grid.federate_config, parser.get_defaults())
    checkpoints: dict[int, str] = {}
    curves: list[RunCurve] = []
    pending: list[PlannedRun] = []
    for run in plan_runs(grid):
        if not RunFiles(run.directory).complete:
            pending.append(run)
            continue
        checkpoint = None
        method = method_named(run.arm.method)
        if method.dae == "federated":
            checkpoint = federated_dae_for(grid, run, parser, train=False)
        elif method.needs_checkpoint(None):
            if run.seed not in checkpoints:
                checkpoints[run.seed] = grid.checkpoint or pretrain_for_seed(
                    grid, run.seed, parser, train=False
                )
            checkpoint = checkpoints[run.seed]
        cfg = _resolved_run_config(parser, grid, run, checkpoint)
        curves.append(run_curve(run, _checked_summary(run, cfg), checkpoint))
    return curves, pending


def run_curve(
    run: PlannedRun, summary: Mapping[str, Any], checkpoint: str | None = None
) -> RunCurve:
    """A finished run's per-round history, payload widths and the cost of the DAE it started
    from (`checkpoint`, None for a method without one), as the report reads them."""
    return RunCurve(
        run.arm,
        run.seed,
        list(summary["history"]),
        summary.get("down_bits_per_param"),
        summary.get("up_bits_per_param"),
        pretraining_cost(checkpoint) if checkpoint is not None else None,
    )


@dataclass(frozen=True)
class RunJob:
    """One run as handed to an executor (picklable: it may travel to a worker or a cluster)."""

    grid: Grid
    run: PlannedRun
    checkpoint: str | None
    cwd: str | None = None  # where relative paths (configs, output) resolve; None: unchanged


def run_job(job: RunJob) -> tuple[dict[str, Any], bool, float]:
    """Run (or reuse, or resume) one federation: its summary, whether it ran, its seconds."""
    if job.cwd is not None:  # a worker process or Ray task starts elsewhere
        os.chdir(job.cwd)
    began = time.perf_counter()
    summary, executed = run_one(federate_parser(), job.grid, job.run, job.checkpoint)
    return summary, executed, time.perf_counter() - began


@contextmanager
def _say_where_stopped(runs: list[PlannedRun]) -> Iterator[None]:
    """An interrupted parallel grid's `Interrupted.detail`: each run stopped mid-way (and the
    round its checkpoint holds), and how many had not started."""
    try:
        yield
    except ItemsInterrupted as err:
        parts = [
            f"{runs[i].describe()} stopped ({_checkpoint_note(runs[i].directory)})"
            for i in sorted(err.stopped)
        ]
        if err.not_started:
            n = len(err.not_started)
            parts.append(f"{n} run{'' if n == 1 else 's'} had not started")
        err.detail = "; ".join(parts) or None
        raise


def _checkpoint_note(directory: Path) -> str:
    try:
        return f"checkpoint.pt of round {int(RunFiles(directory).read_checkpoint()['round'])} kept"
    except UsageError:
        return "before its first checkpoint"


def run_grid(
    grid: Grid, *, progress: bool = True, execution: Execution | None = None
) -> list[RunCurve]:
    """Run (or reuse) every run of the grid; returns each run's per-round history, in plan
    order whatever the order the runs finished in. `GridFailed` if any run failed."""
    execution = execution or Execution()
    runs = check_grid(grid)
    parser = federate_parser()
    checkpoints: dict[int, str] = {}
    serial = execution.executor == "local" and execution.jobs == 1
    cwd = None if serial else os.getcwd()
    jobs: list[RunJob] = []
    for run in runs:
        checkpoint = None
        method = method_named(run.arm.method)
        if method.dae == "federated":
            checkpoint = federated_dae_for(grid, run, parser)
        elif method.needs_checkpoint(None):
            if run.seed not in checkpoints:
                checkpoints[run.seed] = grid.checkpoint or pretrain_for_seed(grid, run.seed, parser)
            checkpoint = checkpoints[run.seed]
        jobs.append(RunJob(grid, run, checkpoint, cwd))
    summaries: dict[int, dict[str, Any]] = {}
    failed: list[str] = []
    usage: list[str] = []  # failures that are user mistakes (exit code 2, as before)
    with GridProgress(len(runs), progress) as bar, _say_where_stopped(runs):
        if serial:
            bar.start(1, runs[0], reused=RunFiles(runs[0].directory).complete)
        for i, outcome in run_all(run_job, jobs, execution):
            run = runs[i]
            if isinstance(outcome, Exception):
                failed.append(f"{run.describe()}: {type(outcome).__name__}: {outcome}")
                if isinstance(outcome, UsageError):
                    usage.append(failed[-1])
                bar.failed(i + 1, run, outcome)
            else:
                summary, executed, seconds = outcome
                summaries[i] = summary
                if not serial:
                    bar.done(i + 1, run, seconds, executed)
                bar.finish(len(summaries) + len(failed), seconds, executed)
            if serial and i + 1 < len(runs):
                bar.start(i + 2, runs[i + 1], reused=RunFiles(runs[i + 1].directory).complete)
    if failed:
        error = UsageError if len(usage) == len(failed) else GridFailed
        raise error(
            f"{len(failed)} of {len(runs)} runs failed (the others are kept; run the same "
            "command again to retry them):\n  " + "\n  ".join(failed)
        )
    return [run_curve(r, summaries[i], jobs[i].checkpoint) for i, r in enumerate(runs)]


def _federate_config_of(cfg: Namespace) -> FederateConfig:
    """The typed config of a federate parse (until the grid builds `FederateConfig`s itself)."""
    return FederateConfig.from_dict(federate_tree(cfg))


def resolve(cfg: Namespace) -> Namespace:
    """A parsed Namespace resolved in place (`resolved`), for the grid's runs, which still hold
    one while they move to `FederateConfig`."""
    for key, value in _flat(resolved(_federate_config_of(cfg)).to_dict()).items():
        cfg[key] = value
    return cfg


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`tree`'s leaves by dotted key (`federation.faults.kinds`); `provenance` is one leaf."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key != "provenance":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
