"""The tests mirror the package: each module of `fl_lightning/app/` has its own test file,
`tests/app/test_<module>.py`, where a maintainer looks for the tests of what they change."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Modules with no test file of their own, each with why. Only a pure re-export belongs here.
EXEMPT = {
    "__init__": "re-exports the public API (tested through it: test_api.py)",
}


def missing_test_files(package: Path, tests: Path) -> list[str]:
    """The modules of `package` that have no `tests/test_<module>.py` and no exemption."""
    return sorted(
        module.name
        for module in package.glob("*.py")
        if module.stem not in EXEMPT and not (tests / f"test_{module.stem}.py").is_file()
    )


def test_every_app_module_has_its_own_test_file() -> None:
    missing = missing_test_files(REPO / "fl_lightning" / "app", REPO / "tests" / "app")
    assert not missing, f"add tests/app/test_<module>.py for {missing}"


def test_the_check_finds_a_module_without_tests(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "tests").mkdir()
    for name in ("__init__.py", "tested.py", "untested.py"):
        (tmp_path / "pkg" / name).write_text("")
    (tmp_path / "tests" / "test_tested.py").write_text("")
    assert missing_test_files(tmp_path / "pkg", tmp_path / "tests") == ["untested.py"]


def test_every_exemption_names_a_module_that_exists() -> None:
    for stem in EXEMPT:
        assert (REPO / "fl_lightning" / "app" / f"{stem}.py").is_file(), stem
