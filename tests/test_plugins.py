"""Plugin discovery through entry points, the environment switches and plugin errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore, PluginError


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake installed distribution 'evstore-fake 1.2.3' with three entry points."""
    site = tmp_path / "site"
    site.mkdir()
    dist = site / "evstore_fake-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-fake\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(
        "[evstore]\nzeta = fake_zeta\nalpha = fake_alpha\nbroken = fake_broken\n"
    )
    plugin = textwrap.dedent(
        """
        from evstore import EventType, hookimpl
        import fake_calls

        @hookimpl
        def evstore_register_event_types(register):
            fake_calls.order.append(__name__)
            register(EventType(__name__ + "_happened"))
        """
    )
    (site / "fake_calls.py").write_text("order = []\n")
    (site / "fake_zeta.py").write_text(plugin)
    (site / "fake_alpha.py").write_text(plugin)
    (site / "fake_broken.py").write_text("raise ImportError('needs libfoo 2')\n")
    monkeypatch.syspath_prepend(str(site))
    for variable in ("EVSTORE_DISABLE_PLUGINS", "EVSTORE_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(variable, raising=False)
    # Only the fake distribution's plugins: the real ones installed beside it stay out.
    monkeypatch.setenv("EVSTORE_PLUGINS", "alpha,broken,zeta")
    yield site
    for name in ("fake_calls", "fake_zeta", "fake_alpha", "fake_broken"):
        sys.modules.pop(name, None)


def open_autoloaded(tmp_path: Path) -> EventStore:
    return EventStore.open(tmp_path / "s.db")


def test_broken_plugin_names_itself_its_distribution_and_the_fix(installed: Path, tmp_path: Path) -> None:
    with pytest.raises(PluginError) as caught:
        open_autoloaded(tmp_path)
    message = str(caught.value)
    assert "plugin 'broken' (evstore-fake 1.2.3) failed to import" in message
    assert "needs libfoo 2" in message and "EVSTORE_DISABLE_PLUGINS=broken" in message


def test_discovery_is_sorted_by_entry_point_name(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_DISABLE_PLUGINS", "broken")
    store = open_autoloaded(tmp_path)
    import fake_calls

    assert fake_calls.order == ["fake_alpha", "fake_zeta"]
    assert [(p.name, p.distribution, p.version) for p in store.plugins] == [
        ("alpha", "evstore-fake", "1.2.3"), ("zeta", "evstore-fake", "1.2.3")
    ]
    assert store.plugins[0].event_types == ["fake_alpha_happened"]
    store.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"EVSTORE_PLUGINS": "zeta"}, ["zeta"]),
        ({"EVSTORE_PLUGINS": "zeta, alpha"}, ["alpha", "zeta"]),
        ({"EVSTORE_PLUGINS": ""}, []),
        ({"EVSTORE_DISABLE_PLUGIN_AUTOLOAD": "1"}, []),
        ({"EVSTORE_DISABLE_PLUGIN_AUTOLOAD": "yes", "EVSTORE_PLUGINS": "zeta"}, []),
        ({"EVSTORE_DISABLE_PLUGINS": "broken,zeta"}, ["alpha"]),
    ],
)
def test_environment_switches(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: list[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = open_autoloaded(tmp_path)
    assert [p.name for p in store.plugins] == expected
    store.close()


def test_explicit_plugins_load_even_with_autoload_off(installed: Path, tmp_path: Path) -> None:
    import fake_zeta

    store = EventStore.open(tmp_path / "s.db", plugins=[fake_zeta], autoload=False)
    assert [(p.name, p.source) for p in store.plugins] == [("fake_zeta", "explicit")]
    store.close()


def test_invalid_hook_implementation(tmp_path: Path) -> None:
    from evstore import hookimpl

    class Bad:
        evstore_plugin_name = "bad"

        @hookimpl
        def evstore_register_projections(self, register: Any, extra_argument: Any) -> None:
            pass

    with pytest.raises(PluginError, match="plugin 'bad' has an invalid hook implementation"):
        EventStore.open(tmp_path / "s.db", plugins=[Bad()], autoload=False)


def test_unknown_hook_name(tmp_path: Path) -> None:
    from evstore import hookimpl

    class Typo:
        evstore_plugin_name = "typo"

        @hookimpl
        def evstore_register_projection(self, register: Any) -> None:
            pass

    with pytest.raises(PluginError, match="plugin 'typo' implements a hook evstore does not define"):
        EventStore.open(tmp_path / "s.db", plugins=[Typo()], autoload=False)
    assert not (tmp_path / "s.db").exists()


def test_registering_the_wrong_thing(tmp_path: Path) -> None:
    from evstore import hookimpl

    class Confused:
        evstore_plugin_name = "confused"

        @hookimpl
        def evstore_register_projections(self, register: Any) -> None:
            register("a string")

    with pytest.raises(PluginError, match="plugin 'confused' registered 'a string' as a projection"):
        EventStore.open(tmp_path / "s.db", plugins=[Confused()], autoload=False)


def test_two_plugins_with_one_name(tmp_path: Path) -> None:
    class One:
        evstore_plugin_name = "same"

    with pytest.raises(PluginError, match="two plugins are named 'same'"):
        EventStore.open(tmp_path / "s.db", plugins=[One(), One()], autoload=False)


def test_conflicting_event_type_declarations(tmp_path: Path) -> None:
    from pydantic import BaseModel

    from evstore import EventType, ProjectionConflictError, hookimpl

    class Model(BaseModel):
        x: int

    def plugin(name: str, declared: EventType) -> object:
        class Plugin:
            evstore_plugin_name = name

            @hookimpl
            def evstore_register_event_types(self, register: Any) -> None:
                register(declared)

        return Plugin()

    with pytest.raises(ProjectionConflictError, match="'thing' is declared differently"):
        EventStore.open(tmp_path / "s.db", autoload=False,
                        plugins=[plugin("p1", EventType("thing")), plugin("p2", EventType("thing", payload=Model))])
