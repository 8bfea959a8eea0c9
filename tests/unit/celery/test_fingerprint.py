"""The code fingerprint follows module sources, not paths or argument order."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from celery_app.fingerprint import FINGERPRINT_LENGTH, code_fingerprint, fingerprinted_files
from dagcore.errors import ModuleImportError

MakePackage = Callable[[Path, str], str]


@pytest.fixture
def make_package(monkeypatch: pytest.MonkeyPatch) -> MakePackage:
    """Return ``make(root, body)``: a fresh package under ``root`` with a module ``tasks``."""

    def make(root: Path, body: str) -> str:
        name = f"fp_{uuid.uuid4().hex[:10]}"
        package = root / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text('"""pkg"""\n', encoding="utf-8")
        (package / "tasks.py").write_text(body, encoding="utf-8")
        monkeypatch.syspath_prepend(str(root))
        importlib.invalidate_caches()
        monkeypatch.delitem(sys.modules, name, raising=False)
        return f"{name}.tasks"

    return make


def test_fingerprint_is_short_hex_and_stable(make_package: MakePackage, tmp_path: Path) -> None:
    module = make_package(tmp_path, "X = 1\n")
    first = code_fingerprint([module])
    assert len(first) == FINGERPRINT_LENGTH
    int(first, 16)
    assert code_fingerprint([module]) == first


def test_fingerprint_changes_when_the_source_changes(
    make_package: MakePackage, tmp_path: Path
) -> None:
    module = make_package(tmp_path, "X = 1\n")
    before = code_fingerprint([module])
    source = fingerprinted_files([module])[module]
    assert source is not None
    source.write_text("X = 2\n", encoding="utf-8")
    assert code_fingerprint([module]) != before


def test_fingerprint_changes_when_the_package_init_changes(
    make_package: MakePackage, tmp_path: Path
) -> None:
    module = make_package(tmp_path, "X = 1\n")
    package = module.split(".")[0]
    before = code_fingerprint([module])
    init = fingerprinted_files([module])[package]
    assert init is not None and init.name == "__init__.py"
    init.write_text('"""pkg, edited"""\n', encoding="utf-8")
    assert code_fingerprint([module]) != before


def test_same_code_elsewhere_gives_the_same_fingerprint(tmp_path: Path) -> None:
    # Two checkouts of the same package in different directories (submitter and worker).
    name = f"fp_{uuid.uuid4().hex[:10]}"
    for root in ("a", "b"):
        package = tmp_path / root / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("", encoding="utf-8")
        (package / "tasks.py").write_text("Y = 'same'\r\n" if root == "b" else "Y = 'same'\n")
    prints = []
    for root in ("a", "b"):
        sys.path.insert(0, str(tmp_path / root))
        try:
            importlib.invalidate_caches()
            sys.modules.pop(name, None)
            prints.append(code_fingerprint([f"{name}.tasks"]))
        finally:
            sys.path.remove(str(tmp_path / root))
            sys.modules.pop(name, None)
    assert prints[0] == prints[1]


def test_order_and_repetition_do_not_matter(make_package: MakePackage, tmp_path: Path) -> None:
    one = make_package(tmp_path, "A = 1\n")
    two = make_package(tmp_path, "B = 1\n")
    assert code_fingerprint([one, two]) == code_fingerprint([two, one, two])
    assert code_fingerprint([one, two]) != code_fingerprint([one])


def test_unknown_module_is_a_clear_error() -> None:
    with pytest.raises(ModuleImportError, match="no_such_module_xyz"):
        code_fingerprint(["no_such_module_xyz.tasks"])
