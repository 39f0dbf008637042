"""`app.compare_groups`: the partition and codec axes of a comparison and its W&B group, each
checked where it is given."""

from __future__ import annotations

import pytest

from fl_lightning.app.compare_groups import CodecSpec, CompareWandb, PartitionSpec, check_codecs
from fl_lightning.errors import UsageError


@pytest.mark.parametrize(
    ("spec", "folder"),
    [
        (PartitionSpec(), "iid"),
        (PartitionSpec("dirichlet", alpha=0.5), "dirichlet-0.5"),
        (PartitionSpec("dirichlet", alpha=0.1), "dirichlet-0.1"),
        (PartitionSpec("dirichlet"), "dirichlet"),  # the federate config's alpha: no suffix
        (PartitionSpec("shards", shards_per_client=2), "shards-2"),
        (PartitionSpec("dirichlet", alpha=0.5, label="skewed"), "skewed"),
    ],
)
def test_a_partitions_folder_names_what_differs(spec: PartitionSpec, folder: str) -> None:
    assert spec.folder == folder


def test_a_partition_selects_only_the_values_it_gives() -> None:
    assert PartitionSpec().values() == {"data": {"partition": "iid"}}
    assert PartitionSpec("dirichlet", alpha=0.3).values() == {
        "data": {"partition": "dirichlet", "alpha": 0.3}
    }
    assert PartitionSpec("shards", shards_per_client=4, label="s").values() == {
        "data": {"partition": "shards", "shards_per_client": 4}
    }


def test_an_unknown_partitioner_is_refused_naming_the_choices() -> None:
    with pytest.raises(UsageError) as info:
        PartitionSpec("uniform")  # type: ignore[arg-type]
    assert str(info.value) == (
        "--partitions name='uniform' is not known; choose one of: iid, dirichlet, shards."
    )


def test_a_good_codec_axis_passes() -> None:
    check_codecs(())
    check_codecs(
        [
            CodecSpec("int8", ("fedavg", "proposed"), ["--federation.down_codec=int8"]),
            CodecSpec("topk1-ef", ("proposed",)),
        ]
    )


@pytest.mark.parametrize(
    ("codecs", "message"),
    [
        (
            [CodecSpec("a", ("fedavg",)), CodecSpec("a", ("proposed",))],
            "--codecs: two settings share a name (['a', 'a']).",
        ),
        (
            [CodecSpec(" ", ("fedavg",))],
            "--codecs: name ' ' must be non-empty, without '/' or '+'.",
        ),
        ([CodecSpec("a/b", ("fedavg",))], "--codecs: name 'a/b' must be non-empty"),
        (
            [CodecSpec("a", ("fedavg", "fedavg"))],
            "--codecs: setting 'a' repeats a method (['fedavg', 'fedavg']).",
        ),
        ([CodecSpec("int8", ("best",))], "--codecs (int8) methods='best' is not known"),
        (
            [CodecSpec("a", ("fedavg",), "--federation.up_codec=int8")],
            "--codecs: setting 'a' overrides='--federation.up_codec=int8': allowed a list of",
        ),
    ],
)
def test_a_bad_codec_axis_is_refused_naming_the_setting(
    codecs: list[CodecSpec], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        check_codecs(codecs)
    assert str(info.value).startswith(message)


def test_the_wandb_group_defaults_to_none_so_each_comparison_folder_gets_its_own() -> None:
    assert CompareWandb() == CompareWandb(enabled=True, project="fl-lightning", group=None)
