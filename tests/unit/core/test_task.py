"""The Task API: ids equal to Luigi's, registry, namespaces, cache, decorators, events."""

from __future__ import annotations

from typing import Any

import luigi
import pytest

from dagcore.errors import (
    DuplicateParameterException,
    MissingParameterException,
    TaskClassAmbigiousException,
    TaskClassNotFoundException,
    UnknownParameterException,
)
from dagcore.event import Event
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.parameter.base import Parameter, ParameterVisibility
from dagcore.task import (
    Config,
    DynamicRequirements,
    ExternalTask,
    Task,
    WrapperTask,
    externalize,
    flatten,
    flatten_output,
    getpaths,
    task_id_str,
)
from dagcore.task_register import Register, auto_namespace, namespace
from dagcore.util import common_params, copies, inherits, requires


@pytest.fixture(autouse=True)
def _clear_mock_fs() -> None:
    MockFileSystem().clear()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"a": "1"},
        {"a": "x" * 40, "b": "héllo wörld", "c": "a/b:c d", "d": "ignored-beyond-three"},
        {"z": "1", "y": "2", "x": "3"},
        {"date": "2024-01-01", "path": "s3://bucket/key with spaces"},
        {"json": '{"k": [1, 2]}'},
    ],
)
def test_task_id_str_equals_luigis(params: dict[str, str]) -> None:
    from luigi.task import task_id_str as luigi_task_id_str

    theirs = luigi_task_id_str("ns.Family", params)  # type: ignore[no-untyped-call]
    assert task_id_str("ns.Family", params) == theirs


class Plain(Task):
    a = Parameter()
    b = Parameter(default="two words")
    hidden = Parameter(default="h", visibility=ParameterVisibility.HIDDEN)
    private = Parameter(default="p", visibility=ParameterVisibility.PRIVATE)
    insignificant = Parameter(default="i", significant=False)


class LuigiPlain(luigi.Task):
    a = luigi.Parameter()
    b = luigi.Parameter(default="two words")
    hidden = luigi.Parameter(default="h", visibility=luigi.parameter.ParameterVisibility.HIDDEN)
    private = luigi.Parameter(default="p", visibility=luigi.parameter.ParameterVisibility.PRIVATE)
    insignificant = luigi.Parameter(default="i", significant=False)


def test_task_ids_and_str_params_match_luigi() -> None:
    ours, theirs = Plain(a="x"), LuigiPlain(a="x")  # type: ignore[no-untyped-call]
    assert ours.task_id == theirs.task_id.replace("LuigiPlain", "Plain")
    luigi_all = theirs.to_str_params()  # type: ignore[no-untyped-call]
    luigi_id_params = theirs.to_str_params(  # type: ignore[no-untyped-call]
        only_significant=True, only_public=True
    )
    assert ours.to_str_params() == luigi_all
    assert ours.to_str_params(only_significant=True, only_public=True) == luigi_id_params
    assert repr(ours) == repr(theirs).replace("LuigiPlain", "Plain")


def test_instance_cache_and_identity() -> None:
    first = Plain(a="x")
    assert Plain(a="x") is first
    assert Plain("x") is first
    assert Plain(a="y") is not first
    assert first == Plain(a="x") and hash(first) == hash(Plain(a="x"))
    assert first.param_kwargs["b"] == "two words"
    with pytest.warns(DeprecationWarning, match="param_args"):  # deprecated, as in Luigi
        assert first.param_args == ("x", "two words", "h", "p", "i")


def test_parameter_errors_name_task_and_parameter() -> None:
    with pytest.raises(MissingParameterException, match=r"Plain: requires the 'a' parameter"):
        Plain()
    with pytest.raises(UnknownParameterException, match=r"Plain: unknown parameter 'nope'"):
        Plain(a="x", nope=1)
    with pytest.raises(DuplicateParameterException, match=r"Plain: parameter 'a' was already"):
        Plain("x", a="y")
    with pytest.raises(UnknownParameterException, match=r"at most 5 positional"):
        Plain(*"abcdef")


def test_clone_and_str_round_trip() -> None:
    task = Plain(a="x", b="y")
    assert task.clone(b="z").param_kwargs["b"] == "z"
    assert Plain.from_str_params(task.to_str_params()) is task

    class Other(Task):
        a = Parameter()

    assert task.clone(Other).param_kwargs == {"a": "x"}
    assert common_params(task, Other) == {"a": "x"}


def test_namespaces_and_registry() -> None:
    namespace("team", scope=__name__)
    try:

        class Scoped(Task):
            pass

        class Explicit(Task):
            task_namespace = "other"

    finally:
        namespace(scope=__name__)
    assert Scoped.get_task_family() == "team.Scoped"
    assert Scoped.task_family == "team.Scoped"
    assert Explicit.get_task_family() == "other.Explicit"
    assert Register.get_task_cls("team.Scoped") is Scoped

    auto_namespace(scope=__name__)
    try:

        class Auto(Task):
            pass

    finally:
        namespace(scope=__name__)
    assert Auto.get_task_family() == f"{__name__}.Auto"


def test_registry_errors() -> None:
    with pytest.raises(TaskClassNotFoundException, match="Did you mean: Plain"):
        Register.get_task_cls("Plian")

    def make() -> type[Task]:
        class Twin(Task):
            pass

        return Twin

    first = make()
    assert Register.get_task_cls("Twin") is first
    namespace("x", scope=__name__)
    namespace(scope=__name__)
    globals()["_keep"] = first

    class Holder:
        class Twin(Task):
            pass

    with pytest.raises(TaskClassAmbigiousException, match="Twin"):
        Register.get_task_cls("Twin")


class Source(Task):
    n = Parameter()

    def output(self) -> MockTarget:
        return MockTarget(f"source-{self.n}")


@requires(Source)
class Copy(Task):
    def output(self) -> MockTarget:
        return MockTarget(f"copy-{self.n}")  # type: ignore[attr-defined]


@inherits(Source)
class Child(Task):
    extra = Parameter(default="e")

    def requires(self) -> Any:
        return self.clone_parent()  # type: ignore[attr-defined]


@copies(Source)
class Copier(Task):
    def output(self) -> MockTarget:
        return MockTarget(f"copied-{self.n}")  # type: ignore[attr-defined]


def test_requires_inherits_copies() -> None:
    copy = Copy(n="1")
    assert copy.requires() is Source(n="1")
    assert copy.input().path == "source-1"
    child = Child(n="2")
    assert child.requires() is Source(n="2")
    with Source(n="3").output().open("w") as out:
        out.write("a\nb\n")
    copier = Copier(n="3")
    copier.run()
    with copier.output().open() as result:
        assert result.read() == "a\nb\n"


def test_complete_wrapper_external_and_config() -> None:
    source = Source(n="c")
    assert not source.complete()
    source.output().open("w").close()
    assert source.complete()

    class Wrap(WrapperTask):
        def requires(self) -> Any:
            return [Source(n="c"), Source(n="d")]

    assert not Wrap().complete()
    Source(n="d").output().open("w").close()
    assert Wrap().complete()

    class Outside(ExternalTask):
        def output(self) -> MockTarget:
            return MockTarget("outside")

    assert Outside().run is None

    class NoOutputs(Task):
        pass

    assert not NoOutputs().complete()

    class Settings(Config):
        level = Parameter(default="low")

    assert Settings().level == "low"


def test_externalize_keeps_family_and_registry() -> None:
    external = externalize(Source)
    assert external.get_task_family() == "Source"
    assert external(n="1").run is None
    assert Source(n="1").run is not None
    assert Register.get_task_cls("Source") is Source
    instance = externalize(Source(n="9"))
    assert instance.run is None and instance.task_id == Source(n="9").task_id


def test_flatten_getpaths_flatten_output() -> None:
    a, b = Source(n="a"), Source(n="b")
    assert flatten(None) == []
    assert flatten("s") == ["s"]
    assert flatten({"x": [a, (b,)], "y": a}) == [a, b, a]
    paths = getpaths({"x": [a, b]})
    assert [t.path for t in paths["x"]] == ["source-a", "source-b"]

    class Group(Task):
        def requires(self) -> Any:
            return [a, b]

    assert [t.path for t in flatten_output(Group())] == ["source-a", "source-b"]


def test_event_handlers_fire_and_failures_are_contained() -> None:
    seen: list[tuple[str, Any]] = []

    class Evented(Task):
        pass

    @Evented.event_handler(Event.SUCCESS)
    def on_success(task: Task) -> None:
        seen.append(("success", task))

    @Evented.event_handler(Event.SUCCESS)
    def broken(task: Task) -> None:
        raise RuntimeError("handler bug")

    task = Evented()
    task.trigger_event(Event.SUCCESS, task)
    Plain(a="z").trigger_event(Event.SUCCESS, Plain(a="z"))
    assert seen == [("success", task)]


def test_running_task_reporting_methods_exist() -> None:
    task = Plain(a="r")
    task.set_status_message("half way")
    task.set_progress_percentage(50)
    task.set_tracking_url("http://example.invalid/job/1")
    task.decrease_running_resources({"cpu": 1})
    assert task.status_message == "half way"
    assert task.progress_percentage == 50
    assert task.tracking_url == "http://example.invalid/job/1"


def test_dynamic_requirements_complete() -> None:
    a, b = Source(n="da"), Source(n="db")
    dyn = DynamicRequirements([a, b])
    assert dyn.flat_requirements == [a, b]
    assert not dyn.complete()
    custom = DynamicRequirements([a, b], custom_complete=lambda check: True)
    assert custom.complete()
