"""A task keeps its identity on the way to a worker.

Workers rebuild each task from its serialised parameters. Most values survive that trip; some do
not: ``FloatParameter`` given the int ``20`` serialises as ``"20"`` (the task id Luigi computes
uses that string) but parses back as ``20.0``, which would give the worker another task id and
other outputs. Such a value travels as itself, in JSON, beside the strings (``values`` of the
node and of the message), and the worker passes it to the constructor as the submitter did, so
``FloatParameter(default=20)`` behaves on Celery as it does locally. A value JSON cannot carry
as itself is refused before anything is submitted, with the value to pass instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dagcore.errors import ExecutionError
from dagcore.plan import Plan
from dagcore.task import Task

__all__ = ["build_task", "travelling_values"]

_SCALARS = (bool, int, float, str, type(None))


def _survives_json(value: Any) -> bool:
    if not isinstance(value, _SCALARS):
        return False
    try:
        again = json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return False
    return type(again) is type(value) and again == value


def build_task(cls: type[Task], params: Mapping[str, Any], values: Mapping[str, Any]) -> Task:
    """The task a message describes: parameters parsed from ``params``, ``values`` as given."""
    kwargs: dict[str, Any] = {}
    for name, param in cls.get_params():
        if name in values:
            kwargs[name] = values[name]
        elif name in params:
            text = params[name]
            parse = param._parse_list if isinstance(text, list) else param.parse
            kwargs[name] = parse(text)
    return cls(**kwargs)


def travelling_values(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per task to run, the parameter values that must travel as themselves (usually none).

    Raises:
        ExecutionError: a task is defined in ``__main__`` (workers cannot import it), or a value
            neither survives its string nor JSON; the message names the value to pass.
    """
    out: dict[str, dict[str, Any]] = {}
    for task_id in plan.to_run():
        task = plan.tasks.get(task_id)
        if task is None:
            continue
        if plan.nodes[task_id].module == "__main__":
            raise ExecutionError(
                f"{task!r} is defined in code run interactively (no script file); Celery "
                "workers cannot import it. Put the tasks in a file, e.g. mypipe.py, and start "
                "workers with `dagcore worker --module mypipe` beside it"
            )
        strings = task.to_str_params()
        values: dict[str, Any] = {}
        for name, param in task.get_params():
            text = strings.get(name)
            if text is None or isinstance(text, list):
                continue
            if param.serialize(param.parse(text)) == text:
                continue
            given = task.param_kwargs[name]
            if not _survives_json(given):
                raise ExecutionError(
                    f"{task!r}: parameter '{name}' ({type(param).__name__}) was given "
                    f"{given!r}, whose string {text!r} a worker parses back as "
                    f"{param.parse(text)!r}; pass {param.parse(text)!r} so the task keeps its "
                    "identity"
                )
            values[name] = given
        if values:
            if build_task(type(task), strings, values).task_id != task_id:
                raise ExecutionError(
                    f"{task!r}: a worker cannot rebuild this task with the same id from its "
                    f"parameters {sorted(values)}; pass values that survive their string"
                )
            out[task_id] = values
    return out
