"""Each family of the listed modules becomes a Celery task of its own name, and no other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from celery_app.app import make_app, worker_app
from celery_app.registry import families_in, import_modules, load_handler, register_families
from celery_app.routing import MIDDLE_STEP, redis_priority
from dagcore.errors import ConfigError, ExecutionError, ModuleImportError
from dagcore.task_register import Register
from tests.unit.celery import families_listed, families_other, family_pkg, handlers
from tests.unit.celery.conftest import SettingsFactory

LISTED = "tests.unit.celery.families_listed"
PACKAGE = "tests.unit.celery.family_pkg"


@pytest.fixture
def app(settings_from: SettingsFactory) -> Iterator[Celery]:
    handlers.CALLS.clear()
    handlers.CONFIGURED.clear()
    yield make_app(settings_from(""))
    handlers.CALLS.clear()
    handlers.CONFIGURED.clear()


def _dagcore_tasks(app: Celery) -> set[str]:
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_families_are_registered_under_their_family_names(app: Celery) -> None:
    families = register_families(app, [LISTED], handlers.record)
    expected = {families_listed.Extract.get_task_family(), families_listed.Load.get_task_family()}
    assert expected == {"celeryunit.Extract", "celeryunit.Load"}
    assert set(families) == expected
    assert _dagcore_tasks(app) == expected
    assert families["celeryunit.Extract"] is families_listed.Extract


def test_families_of_modules_not_listed_are_not_registered(app: Celery) -> None:
    register_families(app, [LISTED], handlers.record)
    hidden = families_other.Hidden.get_task_family()
    # The class is loaded (the listed module imports it) and known to dagcore's registry...
    assert families_other.Hidden in Register._reg
    # ...but the worker was not told to run its module.
    assert hidden not in app.tasks


def test_submodules_of_a_listed_package_count(app: Celery) -> None:
    register_families(app, [PACKAGE], handlers.record)
    assert _dagcore_tasks(app) == {family_pkg.Nested.get_task_family()}
    assert families_in([f"{PACKAGE}.sub"]) == {"celeryunit.pkg.Nested": family_pkg.Nested}
    # A module whose name merely starts like a listed one is not a submodule.
    assert families_in(["tests.unit.celery.family"]) == {}


def test_the_task_calls_the_handler_with_the_family_and_the_message_kwargs(app: Celery) -> None:
    register_families(app, [LISTED], handlers.record)
    kwargs = {
        "run_id": "r1",
        "task_id": "celeryunit.Extract_x_1",
        "module": LISTED,
        "params": {"day": "x"},
        "fingerprint": "f",
    }
    result = app.tasks["celeryunit.Extract"].apply(kwargs=kwargs)
    assert result.get() == "ran celeryunit.Extract"
    [(celery_task, family, received)] = handlers.CALLS
    assert family == "celeryunit.Extract"
    assert received == kwargs
    assert celery_task is app.tasks["celeryunit.Extract"]  # bound: the handler sees the request


def test_tasks_are_acknowledged_late(app: Celery) -> None:
    register_families(app, [LISTED], handlers.record)
    task = app.tasks["celeryunit.Load"]
    assert task.acks_late is True
    assert task.name == "celeryunit.Load"


def test_a_message_overriding_the_family_is_refused(app: Celery) -> None:
    register_families(app, [LISTED], handlers.record)
    result = app.tasks["celeryunit.Extract"].apply(kwargs={"family": "celeryunit.Load"})
    assert result.failed()
    assert isinstance(result.result, TypeError)
    assert handlers.CALLS == []


def test_registration_does_not_leak_into_other_apps(
    app: Celery, settings_from: SettingsFactory
) -> None:
    register_families(app, [LISTED], handlers.record)
    other = make_app(settings_from(""))
    assert _dagcore_tasks(other) == set()


def test_a_module_that_cannot_be_imported_is_named() -> None:
    with pytest.raises(ModuleImportError, match="no_such_pkg_abc.tasks"):
        import_modules(["no_such_pkg_abc.tasks"])
    assert import_modules([LISTED, " ", LISTED]) == [LISTED]


def test_load_handler() -> None:
    module, handler = load_handler("tests.unit.celery.handlers:record")
    assert module is handlers and handler is handlers.record
    with pytest.raises(ConfigError, match="MODULE:FUNCTION"):
        load_handler("tests.unit.celery.handlers")
    with pytest.raises(ExecutionError, match="no function NOT_CALLABLE"):
        load_handler("tests.unit.celery.handlers:NOT_CALLABLE")
    with pytest.raises(ExecutionError, match="no_such_handler_mod_q.*cannot be found"):
        load_handler("no_such_handler_mod_q:handle")


def test_worker_app_configures_the_handler_module_and_registers(
    settings_from: SettingsFactory,
) -> None:
    handlers.CONFIGURED.clear()
    app = worker_app(settings_from(""), [LISTED], "tests.unit.celery.handlers:record")
    assert handlers.CONFIGURED == [(LISTED,)]
    assert _dagcore_tasks(app) == {"celeryunit.Extract", "celeryunit.Load"}
    handlers.CONFIGURED.clear()


def test_a_family_sent_without_a_priority_gets_the_middle_step(
    settings_from: SettingsFactory,
) -> None:
    # kombu's in-memory transport: a real broker inside this process, no service needed.
    app = make_app(settings_from('[celery]\nbroker_url = "memory://localhost/"\n'))
    register_families(app, [LISTED], handlers.record)
    app.tasks["celeryunit.Extract"].apply_async(kwargs={"task_id": "a"}, queue="default")
    app.tasks["celeryunit.Extract"].apply_async(
        kwargs={"task_id": "b"}, queue="default", priority=redis_priority(1000)
    )
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("default")
        try:
            priorities = []
            for _ in range(2):
                message = queue.get(timeout=5)
                priorities.append(message.properties["priority"])
                message.ack()
        finally:
            queue.close()
    assert priorities == [MIDDLE_STEP, redis_priority(1000)]
