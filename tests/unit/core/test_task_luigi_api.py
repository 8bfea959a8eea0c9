"""Luigi's Task API beyond the basics: abstract tasks, instance attributes, the event-handler API,
config warnings and errors, cloning, pickling, bulk completeness, flatten_output."""

from __future__ import annotations

import abc
import pickle
import warnings
from typing import Any

import pytest

from dagcore.configuration import get_config
from dagcore.errors import (
    ParameterValueError,
    TaskClassAmbigiousException,
    UnconsumedParameterWarning,
)
from dagcore.event import Event
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.parameter import IntParameter, Parameter, ParameterVisibility
from dagcore.task import (
    BulkCompleteNotImplementedError,
    ExternalTask,
    MixinNaiveBulkComplete,
    Task,
    WrapperTask,
    _task_wraps,
    flatten_output,
)
from dagcore.task_register import Register
from dagcore.util import requires


@pytest.fixture(autouse=True)
def _clear_mock_fs() -> None:
    MockFileSystem().clear()


def test_a_task_with_abstract_methods_cannot_be_built() -> None:
    class Abstract(Task):
        k = IntParameter()

        @abc.abstractmethod
        def helper(self) -> str: ...

    class Concrete(Abstract):
        def helper(self) -> str:
            return "ok"

    assert issubclass(Register, abc.ABCMeta)
    with pytest.raises(TypeError, match="abstract"):
        Abstract(k=1)  # type: ignore[abstract]
    assert Concrete(k=1).helper() == "ok"


def test_task_family_on_instances_and_classes() -> None:
    class Fam(Task):
        task_namespace = "ns"

    class Renamed(ExternalTask):
        task_family = "Other"  # Luigi: shadows the instance property only

    assert Fam().task_family == "ns.Fam" == Fam.task_family
    assert Renamed.task_family == "Renamed"
    assert Renamed().task_family == "Other"
    assert Renamed().task_id.startswith("Renamed_")


def test_remove_event_handler() -> None:
    class Evented(Task):
        pass

    seen: list[Task] = []

    def handler(task: Task) -> None:
        seen.append(task)

    Evented.event_handler(Event.START)(handler)
    try:
        task = Evented()
        task.trigger_event(Event.START, task)
        Evented.remove_event_handler(Event.START, handler)
        task.trigger_event(Event.START, task)
        assert seen == [task]
        with pytest.raises(KeyError):
            Evented.remove_event_handler(Event.START, handler)
    finally:
        Task._event_callbacks.pop(Evented, None)


def test_luigi_scheduler_attributes_load() -> None:
    class Knobs(Task):
        disable_window = 17
        owner_email = "a@x.org,b@x.org"

    task = Knobs()
    with pytest.warns(DeprecationWarning, match="disable_window"):
        assert task.disable_window_seconds == 17
    assert task.disable_hard_timeout is None
    assert task._owner_list() == ["a@x.org", "b@x.org"]
    assert task.batchable is False
    assert Knobs.use_cmdline_section is True


def test_param_visibilities_leave_out_private() -> None:
    class Vis(Task):
        public = Parameter(default="a")
        hidden = Parameter(default="b", visibility=ParameterVisibility.HIDDEN)
        private = Parameter(default="c", visibility=ParameterVisibility.PRIVATE)

    assert Vis()._get_param_visibilities() == {"public": 0, "hidden": 1}


def test_unconsumed_config_options_warn_once_per_key() -> None:
    class Consumer(Task):
        ignore_unconsumed = {"ignored"}
        a = Parameter(default="a")

    conf = get_config()
    conf.set("Consumer", "a", "x")
    conf.set("Consumer", "stray-key", "v")
    conf.set("Consumer", "ignored", "v")
    with pytest.warns(UnconsumedParameterWarning) as record:
        assert Consumer().a == "x"
    assert [str(w.message) for w in record] == [
        "The configuration contains the parameter 'stray_key' with value 'v' that is not "
        "consumed by the task 'Consumer'."
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Register.clear_instance_cache()
        Consumer()  # already warned about


def test_a_bad_config_value_names_the_task_and_the_parameter() -> None:
    class BadDefault(Task):
        n = IntParameter()

    get_config().set("BadDefault", "n", "not a number")
    with pytest.raises(ParameterValueError) as caught:
        BadDefault()
    assert isinstance(caught.value, ValueError)
    assert "BadDefault[args=(), kwargs={}]: Error when parsing the default value of 'n'" in str(
        caught.value
    )


def test_clone_takes_values_from_plain_attributes() -> None:
    class Target_(Task):
        lo = IntParameter()
        hi = IntParameter()

    class Source(Task):
        lo = 1

        @property
        def hi(self) -> int:
            return 2

    assert Source().clone(Target_) == Target_(lo=1, hi=2)
    assert Source().clone(Target_, hi=5) == Target_(lo=1, hi=5)


def test_no_unpicklable_properties_sets_aside_replaced_reporter_methods() -> None:
    task = Task()
    replacement: Any = lambda url: url  # noqa: E731 - what Luigi's worker installs
    task.set_tracking_url = replacement  # type: ignore[method-assign]
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(task)
    with task.no_unpicklable_properties():
        restored = pickle.loads(pickle.dumps(task))
    assert restored == task and hash(restored) == hash(task)
    assert task.set_tracking_url is replacement


class BulkNaive(MixinNaiveBulkComplete, Task):
    a = Parameter()
    b = Parameter(default="-")

    def complete(self) -> bool:
        return self.a in {"A", "B"}


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["A", "x", "B"], ["A", "B"]),
        ([("A", "1"), ("x", "2")], [("A", "1")]),
        ([{"a": "x"}, {"a": "B", "b": "1"}], [{"a": "B", "b": "1"}]),
    ],
)
def test_mixin_naive_bulk_complete(candidates: list[Any], expected: list[Any]) -> None:
    assert BulkNaive.bulk_complete(candidates) == expected


def test_default_bulk_complete_is_not_implemented() -> None:
    with pytest.raises(BulkCompleteNotImplementedError):
        Task.bulk_complete([1])
    assert issubclass(BulkCompleteNotImplementedError, NotImplementedError)


def test_flatten_output_counts_a_diamond_once() -> None:
    class Leaf(ExternalTask):
        def output(self) -> Any:
            return MockTarget("/leaf")

    @requires(Leaf)
    class Left(WrapperTask):
        pass

    @requires(Leaf)
    class Right(WrapperTask):
        pass

    @requires(Left, Right)
    class Top(WrapperTask):
        pass

    assert [target.path for target in flatten_output(Top())] == ["/leaf"]


class Wrapped(Task):
    """The original."""

    n = IntParameter(default=1)


def test_task_wraps_gives_a_subclass_the_wrapped_identity() -> None:
    @_task_wraps(Wrapped)
    class Wrapper(Wrapped):
        pass

    assert (Wrapper.__name__, Wrapper.__qualname__, Wrapper.__doc__) == (
        "Wrapped",
        "Wrapped",
        "The original.",
    )
    assert Wrapper.get_task_family() == "Wrapped"
    assert Wrapper().task_id == Wrapped().task_id
    assert "Wrapped" in Register.tasks_str().split(",")


def test_a_redefined_class_is_ambiguous_by_name_but_found_by_module() -> None:
    def define() -> type[Task]:
        made: Any = Register("Redefined", (Task,), {"__module__": "pipelines.daily"})
        return made  # type: ignore[no-any-return]

    first, second = define(), define()
    assert first.__qualname__ == second.__qualname__
    with pytest.raises(TaskClassAmbigiousException, match="Redefined"):
        Register.get_task_cls("Redefined")
    assert Register.get_task_cls("Redefined", "pipelines.daily") is second
