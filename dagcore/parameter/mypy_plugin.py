"""A mypy plugin for parameters annotated with their value type.

Without it, mypy understands ``day: DateParameter = DateParameter()`` (the descriptor gives
``task.day`` as a ``date`` and the constructor a ``day: date`` argument) and unannotated Luigi
code, but rejects ``day: datetime.date = DateParameter()``: a ``DateParameter`` is not a date.
With it, a parameter constructed as the value of a task attribute annotated with a type that is
not a parameter type is taken to be of that type, so the annotation is what mypy uses::

    [tool.mypy]
    plugins = ["dagcore.parameter.mypy_plugin"]

Nothing else changes: parameters annotated with a parameter class, unannotated ones and
parameters created elsewhere keep their own types. dagcore never imports this module at run time.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import AssignmentStmt, CallExpr, RefExpr, TypeInfo
from mypy.options import Options
from mypy.plugin import ClassDefContext, FunctionContext, Plugin
from mypy.types import AnyType, Instance, Type, TypeOfAny, get_proper_type

PARAMETER = "dagcore.parameter.base.Parameter"
TASK = "dagcore.task.Task"


def _parameter_class(node: object) -> TypeInfo | None:
    if isinstance(node, TypeInfo) and node.has_base(PARAMETER):
        return node
    return None


class ParameterPlugin(Plugin):
    """Types ``name: ValueType = SomeParameter(...)`` in task classes as the annotation says."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        # The constructor calls to type as Any: ``id`` of their CallExpr nodes, which the
        # semantic analysis pass (class hook) and the type checking pass (call hook) share.
        self._value_annotated: set[int] = set()

    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        sym = self.lookup_fully_qualified(fullname)
        if sym is not None and isinstance(sym.node, TypeInfo) and sym.node.has_base(TASK):
            return self._collect
        return None

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        sym = self.lookup_fully_qualified(fullname)
        if sym is not None and _parameter_class(sym.node) is not None:
            return self._constructed
        return None

    def _collect(self, ctx: ClassDefContext) -> None:
        for stmt in ctx.cls.defs.body:
            if not isinstance(stmt, AssignmentStmt) or stmt.type is None:
                continue
            call = stmt.rvalue
            if not isinstance(call, CallExpr) or not isinstance(call.callee, RefExpr):
                continue
            if _parameter_class(call.callee.node) is None:
                continue
            declared = get_proper_type(stmt.type)
            if isinstance(declared, Instance) and declared.type.has_base(PARAMETER):
                continue  # ``day: DateParameter = DateParameter()``: the descriptor types it
            self._value_annotated.add(id(call))

    def _constructed(self, ctx: FunctionContext) -> Type:
        if id(ctx.context) in self._value_annotated:
            return AnyType(TypeOfAny.special_form)
        return ctx.default_return_type


def plugin(version: str) -> type[Plugin]:
    """Entry point mypy calls with its version."""
    return ParameterPlugin
