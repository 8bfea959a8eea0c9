"""Render a plan for people and tools: indented text, Graphviz dot, Mermaid, or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

from dagcore.plan import Node, Plan

__all__ = ["render_plan"]


def _status(node: Node) -> str:
    if node.complete:
        return "done"
    if node.external:
        return "missing"
    return "pending"


def _text(plan: Plan) -> Iterator[str]:
    """A tree from each root; a task already printed is shown once more as a reference."""
    printed: set[str] = set()
    stack = [(root, 0) for root in reversed(plan.roots)]
    while stack:
        task_id, depth = stack.pop()
        node = plan.nodes.get(task_id)
        if node is None:
            continue
        marker = "" if task_id not in printed else " (see above)"
        yield f"{'  ' * depth}- {plan.label(task_id)} [{_status(node)}, queue={node.queue}]{marker}"
        if task_id in printed:
            continue
        printed.add(task_id)
        stack.extend((dep, depth + 1) for dep in reversed(node.deps))
    for line in plan.problems():
        yield f"! {line}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(plan: Plan) -> Iterator[str]:
    yield "digraph dagcore {"
    yield "  rankdir=LR;"
    colors = {"done": "palegreen", "missing": "lightpink", "pending": "lightgrey"}
    for task_id, node in plan.nodes.items():
        color = colors[_status(node)]
        yield (
            f"  {_quote(task_id)} [label={_quote(plan.label(task_id))}, style=filled, "
            f"fillcolor={color}];"
        )
    for task_id, node in plan.nodes.items():
        for dep in node.deps:
            yield f"  {_quote(dep)} -> {_quote(task_id)};"
    yield "}"


def _mermaid(plan: Plan) -> Iterator[str]:
    ids = {task_id: f"n{i}" for i, task_id in enumerate(plan.nodes)}
    yield "flowchart LR"
    for task_id, node in plan.nodes.items():
        label = plan.label(task_id).replace('"', "'")
        yield f'  {ids[task_id]}["{label}"]:::{_status(node)}'
    for task_id, node in plan.nodes.items():
        for dep in node.deps:
            if dep in ids:
                yield f"  {ids[dep]} --> {ids[task_id]}"
    yield "  classDef done fill:#cfc;"
    yield "  classDef missing fill:#fcc;"
    yield "  classDef pending fill:#eee;"


def render_plan(plan: Plan, fmt: str = "text") -> str:
    """The plan as ``text``, ``dot``, ``mermaid`` or ``json``."""
    if fmt == "json":
        return json.dumps(
            {
                "roots": plan.roots,
                "nodes": [node.to_dict() for node in plan.nodes.values()],
                "problems": plan.problems(),
                "cycle": plan.cycle,
            },
            indent=2,
        )
    renderers = {"text": _text, "dot": _dot, "mermaid": _mermaid}
    try:
        renderer = renderers[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use text, dot, mermaid or json") from None
    return "\n".join(renderer(plan))
