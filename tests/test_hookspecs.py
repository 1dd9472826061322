"""Documentation and tests that cannot drift from the hooks they describe."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from evstore import hookspecs

HOOKS = sorted(
    name for name, value in vars(hookspecs).items()
    if name.startswith("evstore_") and inspect.isfunction(value)
)
TESTS = Path(__file__).parent


def test_there_are_hooks() -> None:
    assert "evstore_register_projections" in HOOKS and len(HOOKS) >= 6


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    signature = inspect.signature(getattr(hookspecs, name))
    assert doc, f"{name} has no docstring"
    for parameter in signature.parameters:
        assert f":param {parameter}:" in doc, f"{name}'s docstring does not describe {parameter}"
    assert ":returns:" in doc, f"{name}'s docstring does not say what it returns"
    assert "Called" in doc, f"{name}'s docstring does not say when it is called"
    assert "transaction" in doc, f"{name}'s docstring does not say in which transaction it runs"
    assert "Raising" in doc, f"{name}'s docstring does not say what raising does"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_test(name: str) -> None:
    pattern = re.compile(rf"^def test_hook_{name}\(", re.MULTILINE)
    assert any(pattern.search(path.read_text()) for path in TESTS.glob("test_*.py")), (
        f"no test named test_hook_{name} in tests/"
    )


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_method_on_the_hooks_class(name: str) -> None:
    from evstore._plugins import Hooks

    method = name.removeprefix("evstore_")
    assert hasattr(Hooks, method), f"the kernel calls hooks through Hooks; add Hooks.{method}"
