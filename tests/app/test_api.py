"""The Python API (`fl_lightning.pretrain | prune | federate | compare`): the same runs as the
command line, from typed configs, with the same checks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import fl_lightning as fl
from fl_lightning.cli import main
from fl_lightning.errors import UsageError
from tests.reliability.runs import SMOKE, federate_args
from tests.smoke_runs import without_wall_clock

REPO = Path(__file__).resolve().parents[2]


def test_federate_from_python_gives_the_summary_of_the_cli(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    main(["federate", *federate_args(tiny_fashion_root, cli_out, "--rounds", "2")])
    config = fl.federate_config(
        SMOKE,
        values={
            "method": "fedavg",
            "rounds": 2,
            "output": str(api_out),
            "progress": False,
            "data": {
                "root": str(tiny_fashion_root),
                "server_images": 100,
                "max_client_examples": 20,
                "max_test_examples": 100,
            },
            "client": {"batch_size": 10},
            "federation": {"clients_per_round": 2},
            "wandb": {"enabled": False},
        },
    )
    summary = fl.federate(config)
    written = json.loads((cli_out / "summary.json").read_text())
    assert len(summary["history"]) == 2
    assert without_wall_clock(summary) == without_wall_clock(written)
    # the run folder holds the same files and the same resolved config, bar the output
    # (recorded relative to the current folder: no file names an absolute path)
    api_config = (api_out / "config.yaml").read_text().replace(os.path.relpath(api_out), "OUT")
    cli_config = (cli_out / "config.yaml").read_text().replace(os.path.relpath(cli_out), "OUT")
    assert without_config_file(api_config) == without_config_file(cli_config)


def without_config_file(text: str) -> list[str]:
    """config.yaml's lines but the YAML file it was read from (`config:` and its list)."""
    return [line for line in text.splitlines() if not line.startswith(("config:", "- "))]


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_python_api_example_pretrains_prunes_federates_and_plots(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the example names the configs from the repository root
    example = load_example("python_api")
    summary = example.pipeline(tmp_path, root=str(tiny_fashion_root), rounds=2)
    assert summary["method"] == "proposed" and summary["rounds"] == 2
    ticket = json.loads((tmp_path / "ticket.json").read_text())
    assert ticket["sparsity"] == 0.8 and ticket["model"] == "mlp"
    checkpoint = os.path.relpath(tmp_path / "pretrain" / "dae.ckpt")  # not absolute
    assert summary["provenance"]["source_checkpoint"] == checkpoint
    assert summary["density"] < 1.0  # the sparse ticket was federated, not a dense model
    assert (tmp_path / "acc_vs_traffic.png").stat().st_size > 0


def test_configs_check_their_values_when_built(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="sparsity"):
        fl.federate_config(SMOKE, values={"sparsity": "most"})
    with pytest.raises(UsageError, match="no_such_option"):
        fl.federate_config(SMOKE, values={"no_such_option": 1})
    with pytest.raises(UsageError, match="--sparsity"):
        fl.PruneConfig(checkpoint="x.ckpt", sparsity=1.0)
    with pytest.raises(UsageError, match="--output"):
        fl.PruneConfig(checkpoint="x.ckpt", sparsity=0.5, output=str(tmp_path / "t.json"))
    with pytest.raises(UsageError, match="methods"):
        fl.compare_config(values={"methods": ["best"]})
    # range mistakes, and one fact given two values, are refused when the config is built
    with pytest.raises(UsageError, match=r"--rounds=0"):
        fl.federate_config(SMOKE, values={"rounds": 0})
    with pytest.raises(UsageError, match=r"--sparsity=1\.0"):
        fl.federate_config(SMOKE, values={"sparsity": 1.0})
    with pytest.raises(UsageError, match=r"clients_per_round=50"):
        fl.federate_config(SMOKE, values={"federation": {"clients_per_round": 50}})
    with pytest.raises(UsageError, match=r"--data\.split_seed=5 and --seeds\.split=7"):
        fl.federate_config(SMOKE, values={"data": {"split_seed": 5}, "seeds": {"split": 7}})


def test_import_fl_lightning_stays_light() -> None:
    """The API is imported on first use: `import fl_lightning` loads neither torch nor W&B."""
    code = "import sys, fl_lightning; print(sorted({'torch', 'wandb'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr
    with pytest.raises(AttributeError, match="no_such_step"):
        _ = fl.no_such_step  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("builder", "values", "group"),
    [
        (fl.federate_config, {"data": 5}, "data"),
        (fl.federate_config, {"seeds": 3}, "seeds"),
        (fl.federate_config, {"federation": 7}, "federation"),
        (fl.federate_config, {"wandb": 5}, "wandb"),
        (fl.federate_config, {"federation": {"faults": 0.3}}, "federation.faults"),
        (fl.compare_config, {"ray": 3}, "ray"),
        (fl.compare_config, {"wandb": None}, "wandb"),
    ],
)
def test_values_refuse_a_scalar_for_an_option_group(
    builder: Any, values: dict[str, Any], group: str
) -> None:
    with pytest.raises(UsageError) as info:
        builder(values=values)
    message = str(info.value)
    assert f"_config(values=...): `{group}: " in message
    assert f"{group} is a group of options; give a dict of its options" in message


def test_builders_refuse_arguments_of_the_wrong_kind() -> None:
    with pytest.raises(UsageError, match=r"federate_config\(values=5\): allowed a dict"):
        fl.federate_config(values=5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"federate_config\(args='--rounds 2'\): allowed a list"):
        fl.federate_config(args="--rounds 2")
    with pytest.raises(UsageError, match=r"compare_config\(config=3\): allowed a YAML file"):
        fl.compare_config(3)  # type: ignore[arg-type]


def test_pretrain_refuses_a_bad_option_without_exiting(tmp_path: Path) -> None:
    config = fl.PretrainConfig(output=str(tmp_path / "p"), settings={"trainer.max_epochs": "x"})
    with pytest.raises(UsageError) as info:  # not SystemExit: the interpreter goes on
        fl.pretrain(config)
    assert str(info.value).startswith("pretrain(config): the pre-training options are invalid:")
    assert "trainer.max_epochs" in str(info.value)
    assert not (tmp_path / "p").exists()
    with pytest.raises(UsageError, match=r"PretrainConfig\(settings=5\): allowed a dict"):
        fl.PretrainConfig(settings=5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"pretrain\(config\)=None: allowed a `fl.PretrainConfig"):
        fl.pretrain(None)  # type: ignore[arg-type]


def test_federate_and_compare_refuse_what_their_builder_did_not_make() -> None:
    with pytest.raises(UsageError, match=r"federate\(cfg=None\): allowed the config "):
        fl.federate(None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"federate\(cfg='configs/federate/smoke.yaml'\)"):
        fl.federate("configs/federate/smoke.yaml")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"federate\(cfg\): not a federate config \(a Namespace\)"):
        fl.federate(fl.compare_config())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"compare\(cfg=None\): allowed the config "):
        fl.compare(None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"compare\(cfg\): not a compare config"):
        fl.compare(fl.federate_config(SMOKE))  # type: ignore[arg-type]


def test_prune_config_checks_the_type_of_every_argument(tmp_path: Path) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"sparsity": "high"}, "--sparsity='high' is not a number; allowed: [0.0, 1.0)."),
        ({"sparsity": None}, "--sparsity=None is not a number"),
        ({"scope": "local"}, "--scope='local' is not known; choose one of: global, layer."),
        ({"policy": "best"}, "--policy='best' is not known"),
        ({"seed": 1.5}, "--seed=1.5 is not an integer"),
        ({"include_head": "yes"}, "--include_head='yes': allowed True or False."),
        ({"checkpoint": None}, "--checkpoint=None: allowed the path"),
        ({"output": 5}, "--output=5: allowed a ticket's path"),
    ]
    for change, message in bad:
        kwargs: dict[str, Any] = {"checkpoint": "x.ckpt", "sparsity": 0.5, **change}
        with pytest.raises(UsageError) as info:
            fl.PruneConfig(**kwargs)
        assert message in str(info.value), change
    with pytest.raises(UsageError, match=r"prune\(config=None\): allowed a `fl.PruneConfig"):
        fl.prune(None)  # type: ignore[arg-type]
