"""Task parameters, named as in ``luigi.parameter``.

``from dagcore.parameter import DateParameter`` works as Luigi's import does; every class, the
exceptions and warnings, ``ParameterVisibility`` and the type variables are here. The classes
are spread over small modules: :mod:`~dagcore.parameter.base` (the descriptor),
:mod:`~dagcore.parameter.scalars`, :mod:`~dagcore.parameter.dates`,
:mod:`~dagcore.parameter.structured` and :mod:`~dagcore.parameter.optional`.
"""

from __future__ import annotations

# Luigi's module-level ``warnings``: code written for Luigi patches ``luigi.parameter.warnings``.
import warnings as warnings

from dagcore.errors import (
    DuplicateParameterException,
    MissingParameterException,
    OptionalParameterTypeWarning,
    ParameterException,
    ParameterTypeError,
    ParameterValueError,
    UnconsumedParameterWarning,
    UnknownParameterException,
)
from dagcore.parameter.base import (
    OptionalParameterMixin,
    Parameter,
    ParameterKwargs,
    ParameterVisibility,
    T,
)
from dagcore.parameter.base import (
    _no_value as _no_value,
)
from dagcore.parameter.base import (
    _NoValueType as _NoValueType,
)
from dagcore.parameter.dates import (
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
    MonthParameter,
    TimeDeltaParameter,
    YearParameter,
)
from dagcore.parameter.dates import (
    _DateParameterBase as _DateParameterBase,
)
from dagcore.parameter.dates import (
    _DatetimeParameterBase as _DatetimeParameterBase,
)
from dagcore.parameter.optional import (
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
)
from dagcore.parameter.scalars import (
    BoolParameter,
    ChoiceParameter,
    ChoiceType,
    EnumParameter,
    EnumParameterType,
    FloatParameter,
    IntParameter,
    NumericalParameter,
    NumericalType,
    PathParameter,
    StrParameter,
)
from dagcore.parameter.structured import (
    _JSONSCHEMA_ENABLED as _JSONSCHEMA_ENABLED,
)
from dagcore.parameter.structured import (
    ChoiceListParameter,
    DictParameter,
    DictT,
    EnumListParameter,
    ListParameter,
    ListT,
    TaskParameter,
    TaskType,
    TupleParameter,
)

__all__ = [
    "BoolParameter",
    "ChoiceListParameter",
    "ChoiceParameter",
    "ChoiceType",
    "DateHourParameter",
    "DateIntervalParameter",
    "DateMinuteParameter",
    "DateParameter",
    "DateSecondParameter",
    "DictParameter",
    "DictT",
    "DuplicateParameterException",
    "EnumListParameter",
    "EnumParameter",
    "EnumParameterType",
    "FloatParameter",
    "IntParameter",
    "ListParameter",
    "ListT",
    "MissingParameterException",
    "MonthParameter",
    "NumericalParameter",
    "NumericalType",
    "OptionalBoolParameter",
    "OptionalChoiceParameter",
    "OptionalDictParameter",
    "OptionalFloatParameter",
    "OptionalIntParameter",
    "OptionalListParameter",
    "OptionalNumericalParameter",
    "OptionalParameter",
    "OptionalParameterMixin",
    "OptionalParameterTypeWarning",
    "OptionalPathParameter",
    "OptionalStrParameter",
    "OptionalTupleParameter",
    "Parameter",
    "ParameterException",
    "ParameterKwargs",
    "ParameterTypeError",
    "ParameterValueError",
    "ParameterVisibility",
    "PathParameter",
    "StrParameter",
    "T",
    "TaskParameter",
    "TaskType",
    "TimeDeltaParameter",
    "TupleParameter",
    "UnconsumedParameterWarning",
    "UnknownParameterException",
    "YearParameter",
]
