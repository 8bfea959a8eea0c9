"""dagcore: Luigi-compatible pipelines, run in-process or on a Celery fleet over Redis.

Port a Luigi pipeline by changing ``import luigi`` to ``import dagcore as luigi``: the
authoring names (``Task``, the parameters, ``LocalTarget``, ``build``, ...) are here with
Luigi's behaviour, and module paths mirror Luigi's (``dagcore.task``, ``dagcore.parameter``,
``dagcore.target``, ``dagcore.local_target``, ``dagcore.format``, ``dagcore.mock``,
``dagcore.util``, ``dagcore.configuration``, ``dagcore.contrib.s3``, ``dagcore.contrib.sqla``,
``dagcore.tools.range``).
"""

from __future__ import annotations

from dagcore import (
    configuration,
    event,
    format,
    interface,
    local_target,
    mock,
    parameter,
    rpc,
    target,
    task,
    util,
)
from dagcore.cli import run
from dagcore.configuration import get_config
from dagcore.event import Event
from dagcore.execution_summary import LuigiStatusCode
from dagcore.interface import build
from dagcore.local_target import LocalFileSystem, LocalTarget
from dagcore.parameter import (
    BoolParameter,
    ChoiceListParameter,
    ChoiceParameter,
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
    DictParameter,
    EnumListParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ListParameter,
    MonthParameter,
    NumericalParameter,
    OptionalBoolParameter,
    OptionalChoiceParameter,
    OptionalDictParameter,
    OptionalFloatParameter,
    OptionalIntParameter,
    OptionalListParameter,
    OptionalNumericalParameter,
    OptionalParameter,
    OptionalPathParameter,
    OptionalStrParameter,
    OptionalTupleParameter,
    Parameter,
    PathParameter,
    StrParameter,
    TaskParameter,
    TimeDeltaParameter,
    TupleParameter,
    YearParameter,
)
from dagcore.rpc import RemoteScheduler, RPCError
from dagcore.target import FileSystem, FileSystemTarget, Target
from dagcore.task import (
    Config,
    DynamicRequirements,
    ExternalTask,
    Task,
    WrapperTask,
    auto_namespace,
    externalize,
    namespace,
)

# As Luigi does by default ([core] autoload_range): RangeDaily & co. are families that the
# command line finds without an import (always: dagcore has no autoload_range switch).
from dagcore.tools import range  # noqa: A004 - Luigi exports the module under this name
from dagcore.util import copies, inherits, requires

__version__ = "0.1.0"

__all__ = [
    "BoolParameter",
    "ChoiceListParameter",
    "ChoiceParameter",
    "Config",
    "DateHourParameter",
    "DateIntervalParameter",
    "DateMinuteParameter",
    "DateParameter",
    "DateSecondParameter",
    "DictParameter",
    "DynamicRequirements",
    "EnumListParameter",
    "EnumParameter",
    "Event",
    "ExternalTask",
    "FileSystem",
    "FileSystemTarget",
    "FloatParameter",
    "IntParameter",
    "ListParameter",
    "LocalFileSystem",
    "LocalTarget",
    "LuigiStatusCode",
    "MonthParameter",
    "NumericalParameter",
    "OptionalBoolParameter",
    "OptionalChoiceParameter",
    "OptionalDictParameter",
    "OptionalFloatParameter",
    "OptionalIntParameter",
    "OptionalListParameter",
    "OptionalNumericalParameter",
    "OptionalParameter",
    "OptionalPathParameter",
    "OptionalStrParameter",
    "OptionalTupleParameter",
    "Parameter",
    "PathParameter",
    "RPCError",
    "RemoteScheduler",
    "StrParameter",
    "Target",
    "TaskParameter",
    "Task",
    "TimeDeltaParameter",
    "TupleParameter",
    "WrapperTask",
    "YearParameter",
    "auto_namespace",
    "build",
    "configuration",
    "copies",
    "event",
    "externalize",
    "format",
    "get_config",
    "inherits",
    "interface",
    "local_target",
    "mock",
    "namespace",
    "parameter",
    "range",
    "requires",
    "rpc",
    "run",
    "target",
    "task",
    "util",
]
