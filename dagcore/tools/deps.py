"""Which tasks lie between a task and an upstream family, and what they write (``luigi-deps``).

``dagcore-deps --module my.tasks Downstream --date 2024-01-01 [--upstream-family Upstream]``
parses the command line as ``dagcore run`` does, walks ``requires()`` from the task without
running anything, and prints every task on a dependency path from it to a task of the upstream
family (every task it depends on, without ``--upstream-family``), with its outputs::

       TASK: Downstream(date=2024-01-01)
                           : [FileSystem] data/out/2024-01-01.csv
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagcore.cmdline_parser import CmdlineParser
from dagcore.parameter import OptionalParameter
from dagcore.target import FileSystemTarget
from dagcore.task import Config, Task, flatten

__all__ = [
    "dfs_paths",
    "find_deps",
    "find_deps_cli",
    "get_task_output_description",
    "get_task_requires",
    "main",
    "upstream",
]


class upstream(Config):  # noqa: N801 - Luigi's section and flag name (--upstream-family)
    """``--upstream-family``: the family the dependency paths must reach."""

    family = OptionalParameter(default=None, description="Family the paths end at")


def get_task_requires(task: Task) -> set[Task]:
    """The tasks ``task`` requires directly."""
    return set(flatten(task.requires()))


def dfs_paths(
    start_task: Task, goal_task_family: str | None, path: list[Task] | None = None
) -> Iterator[Task]:
    """Yield the tasks of every path from ``start_task`` down to a task of
    ``goal_task_family`` (every path, if it is None). A task may be yielded more than once;
    :func:`find_deps` is the deduplicated, polynomial form."""
    path = [start_task] if path is None else path
    if goal_task_family is None or start_task.get_task_family() == goal_task_family:
        yield from path
    for child in get_task_requires(start_task) - set(path):
        yield from dfs_paths(child, goal_task_family, [*path, child])


def find_deps(task: Task, upstream_task_family: str | None) -> set[Task]:
    """Every task on a dependency path from ``task`` to a task of ``upstream_task_family``
    (every task ``task`` depends on, itself included, if that is None).

    Each task's ``requires()`` is called once, however many paths pass through it.
    """
    children: dict[Task, set[Task]] = {}
    reaches: dict[Task, bool] = {}

    def requires(node: Task) -> set[Task]:
        if node not in children:
            children[node] = get_task_requires(node)
        return children[node]

    # Iterative post-order walk: a task reaches the goal if it is of the goal family or one
    # of its requirements reaches it. Requirement graphs may be deep (long chains).
    stack: list[tuple[Task, bool]] = [(task, False)]
    on_stack: set[Task] = set()
    while stack:
        node, expanded = stack.pop()
        if node in reaches:
            continue
        if not expanded:
            if node in on_stack:
                continue  # a cycle: its other visit decides
            on_stack.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in requires(node) if child not in reaches)
            continue
        on_stack.discard(node)
        is_goal = upstream_task_family is None or node.get_task_family() == upstream_task_family
        reaches[node] = is_goal or any(reaches.get(child, False) for child in requires(node))
    return {node for node, reached in reaches.items() if reached}


def find_deps_cli(argv: Sequence[str] | None = None) -> set[Task]:
    """:func:`find_deps` for the task and ``--upstream-family`` a command line names."""
    args = list(sys.argv[1:] if argv is None else argv)
    with CmdlineParser.global_instance(args) as parser:
        return find_deps(parser.get_task_obj(), upstream().family)


def _loaded_class(module: str, name: str) -> type[Any] | None:
    """A class from a module only if that module is already imported: a target of a kind
    nobody has imported cannot be among the outputs, and the import may be heavy."""
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None) if loaded is not None else None
    return found if isinstance(found, type) else None


def get_task_output_description(task_output: Any) -> str:
    """One output as ``[S3] s3://...``, ``[FileSystem] path``, ``[DB] host:table``."""
    s3_target = _loaded_class("dagcore.contrib.s3", "S3Target")
    sql_target = _loaded_class("dagcore.contrib.sqla", "SQLAlchemyTarget")
    if s3_target is not None and isinstance(task_output, s3_target):
        return f"[S3] {task_output.path}"
    if isinstance(task_output, FileSystemTarget):
        return f"[FileSystem] {task_output.path}"
    if sql_target is not None and isinstance(task_output, sql_target):
        return f"[DB] {_database_host(task_output.connection_string)}:{task_output.target_table}"
    host, table = getattr(task_output, "host", None), getattr(task_output, "table", None)
    if host is not None and table is not None:  # Luigi's database targets
        return f"[DB] {host}:{table}"
    return "to be determined"


def _database_host(connection_string: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        url = make_url(connection_string)
    except Exception:  # not a URL SQLAlchemy understands: show it without credentials
        return connection_string.rpartition("@")[2]
    return url.host or url.database or url.drivername


def _output_descriptions(task: Task) -> list[str]:
    outputs = task.output()
    if isinstance(outputs, Mapping):
        items: list[Any] = list(outputs.values())
    elif isinstance(outputs, (list, tuple)):
        items = list(outputs)
    elif outputs is None:
        items = []
    else:
        items = [outputs]
    return [get_task_output_description(item) for item in items]


def main(argv: Sequence[str] | None = None) -> int:
    """``dagcore-deps`` / ``luigi-deps``: print the tasks :func:`find_deps_cli` finds."""
    for task in sorted(find_deps_cli(argv), key=lambda found: found.task_id):
        print(f"   TASK: {task}")
        for description in _output_descriptions(task):
            print(f"                       : {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
