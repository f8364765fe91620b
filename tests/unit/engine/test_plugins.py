"""Entry-point plugins are read once per runtime; a broken one is named and spares the others."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from treeframe.engine import plugins
from treeframe.engine.generators import ENTRY_POINT_GROUP as GENERATORS
from treeframe.engine.policies import ENTRY_POINT_GROUP as POLICIES
from treeframe.engine.runtime import Runtime
from treeframe.errors import InvalidPolicy


class Upper:
    policy_id = "upper"
    content_type = "text/plain"

    def check_params(self, params):
        return {}

    def synthesize(self, dir_path, inputs, params):
        return b"".join(i.content.upper() for i in inputs)


class Lines:
    generator_id = "lines"
    content_type = "text/plain"

    def generate(self, record, content):
        return str(content.count(b"\n")).encode()


class Explodes:
    """A plugin class whose constructor fails (say, it wants a setting that is not there)."""

    def __init__(self) -> None:
        raise RuntimeError("missing API key")


NOT_A_POLICY = object()

PLUGINS = {
    POLICIES: {"upper": "Upper", "broken": "Explodes", "odd": "NOT_A_POLICY", "gone": "Nowhere"},
    GENERATORS: {"lines": "Lines", "broken": "Explodes"},
}


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Fake installed plugins; every read of the entry-point metadata is recorded."""
    seen: list[str] = []

    def fake(group: str) -> list[EntryPoint]:
        seen.append(group)
        return [
            EntryPoint(name=name, value=f"{__name__}:{attr}", group=group)
            for name, attr in PLUGINS.get(group, {}).items()
        ]

    monkeypatch.setattr(plugins, "entry_points", fake)
    return seen


def test_each_group_is_loaded_once_per_runtime(calls: list[str]) -> None:
    runtime = Runtime()
    assert runtime.policies.get("concat").policy_id == "concat"
    assert calls == []  # built-ins need no metadata scan
    for _ in range(5):
        assert isinstance(runtime.policies.get("upper"), Upper)
        assert "upper" in runtime.policies.ids()
        assert isinstance(runtime.generators.get("lines"), Lines)
    assert runtime.policies.get("upper") is runtime.policies.get("upper")
    assert sorted(calls) == [GENERATORS, POLICIES]
    Runtime().policies.get("upper")  # another runtime reads its own
    assert sorted(calls) == [GENERATORS, POLICIES, POLICIES]


def test_a_broken_plugin_is_named_and_spares_the_others(calls: list[str]) -> None:
    runtime = Runtime()
    with pytest.raises(
        InvalidPolicy, match=r"plugin 'broken' failed to load: RuntimeError: missing API key"
    ):
        runtime.policies.get("broken")
    with pytest.raises(InvalidPolicy, match=r"plugin 'odd' is not a synthesis policy"):
        runtime.policies.get("odd")
    with pytest.raises(InvalidPolicy, match=r"plugin 'gone' failed to load"):
        runtime.policies.get("gone")
    assert isinstance(runtime.policies.get("upper"), Upper)
    assert runtime.policies.ids() == ["concat", "filter", "summary", "upper"]
    with pytest.raises(
        InvalidPolicy, match=r"unknown synthesis policy 'nope'.*failed to load: broken, gone, odd"
    ):
        runtime.policies.get("nope")
    with pytest.raises(InvalidPolicy, match=r"generator plugin 'broken' failed to load"):
        runtime.generators.get("broken")
    assert isinstance(runtime.generators.get("lines"), Lines)
    with pytest.raises(InvalidPolicy, match="unknown generator 'nope'"):
        runtime.generators.get("nope")
    assert sorted(calls) == [GENERATORS, POLICIES]


def test_a_real_installed_plugin_is_found_through_its_dist_info(tmp_path, monkeypatch) -> None:
    """No monkeypatched ``entry_points``: a tiny distribution on ``sys.path``, as pip installs it."""
    (tmp_path / "tf_shout_plugin.py").write_text(
        "LOADS = []\n"
        "class Shout:\n"
        "    policy_id = 'shout'\n"
        "    content_type = 'text/plain'\n"
        "    def __init__(self):\n"
        "        LOADS.append(1)\n"
        "    def check_params(self, params):\n"
        "        return {}\n"
        "    def synthesize(self, dir_path, inputs, params):\n"
        "        return b'!'.join(i.content.upper() for i in inputs)\n",
        encoding="utf-8",
    )
    info = tmp_path / "tf_shout_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tf-shout-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{POLICIES}]\nshout = tf_shout_plugin:Shout\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runtime = Runtime()
    shout = runtime.policies.get("shout")
    assert shout.policy_id == "shout"
    assert runtime.policies.get("shout") is shout
    assert "shout" in runtime.policies.ids()
    import tf_shout_plugin  # type: ignore[import-not-found]

    assert tf_shout_plugin.LOADS == [1]  # constructed once for every lookup of this runtime
