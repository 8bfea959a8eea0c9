"""A task's dependencies as a tree, with each task's state (``luigi-deps-tree``).

``dagcore-deps-tree --module my.tasks Report --date 2024-01-01`` parses the command line as
``dagcore run`` does and prints, without running anything::

    └─--[Report-{'date': '2024-01-01'} (PENDING)]
        |---[Extract-{'date': '2024-01-01'} (COMPLETE)]
        └─--[Transform-{'date': '2024-01-01'} (PENDING)]

A task required through several paths appears under each of them.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from dagcore.cmdline_parser import CmdlineParser
from dagcore.task import Task, flatten

__all__ = ["bcolors", "main", "print_tree"]


class bcolors:  # noqa: N801 - Luigi's name
    """Terminal colours of the two states."""

    OKBLUE = "\033[94m"
    OKGREEN = "\033[92m"
    ENDC = "\033[0m"


def _state(task: Task) -> str:
    with warnings.catch_warnings():
        # A task without outputs is never complete; saying so once per node is noise here.
        warnings.filterwarnings(
            "ignore", message="Task .* without outputs has no custom complete\\(\\) method"
        )
        complete = task.complete()
    if complete:
        return f"{bcolors.OKGREEN}COMPLETE{bcolors.ENDC}"
    return f"{bcolors.OKBLUE}PENDING{bcolors.ENDC}"


def print_tree(task: Task, indent: str = "", last: bool = True) -> str:
    """The tree below ``task`` as text (each line starts with a newline), in Luigi's format:
    ``[Class-{significant params} (STATE)]``."""
    branch, indent = ("└─--", indent + "    ") if last else ("|---", indent + "|   ")
    params = task.to_str_params(only_significant=True)
    line = f"\n{indent[:-4]}{branch}[{type(task).__name__}-{params} ({_state(task)})]"
    children = flatten(task.requires())
    return line + "".join(
        print_tree(child, indent, index == len(children) - 1)
        for index, child in enumerate(children)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``dagcore-deps-tree`` / ``luigi-deps-tree``: print the tree of the task named."""
    args = list(sys.argv[1:] if argv is None else argv)
    with CmdlineParser.global_instance(args) as parser:
        print(print_tree(parser.get_task_obj()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
