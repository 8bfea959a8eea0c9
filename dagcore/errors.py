"""The exception hierarchy of dagcore.

Every error dagcore raises on purpose derives from :class:`DagcoreError`, so callers can catch
one base. Messages name what failed (the task, the parameter, the file and key) and say what to
do about it. The Luigi-compatible names (``MissingParameterException`` and friends) are
re-exported from the modules where Luigi keeps them.
"""

from __future__ import annotations


class DagcoreError(Exception):
    """Base class of every error raised by dagcore."""


class ConfigError(DagcoreError):
    """A configuration file or value is invalid; the message names the file, section and key."""


class ParameterException(DagcoreError):
    """A parameter value is missing, unknown, duplicated or cannot be parsed."""


class MissingParameterException(ParameterException):
    """A task was instantiated without a required parameter."""


class UnknownParameterException(ParameterException):
    """A task was given a parameter it does not declare."""


class DuplicateParameterException(ParameterException):
    """A parameter was given both positionally and by name."""


class OptionalParameterTypeWarning(UserWarning):
    """An optional parameter received a value of an unexpected type."""


class UnconsumedParameterWarning(UserWarning):
    """A config section sets a parameter the task does not declare."""


class TaskClassException(DagcoreError):
    """A task family cannot be looked up."""


class TaskClassNotFoundException(TaskClassException):
    """No task family of that name is registered."""


class TaskClassAmbigiousException(TaskClassException):
    """Several classes registered the same task family."""


class TargetError(DagcoreError):
    """A target operation failed."""


class FileSystemException(TargetError):
    """A file system operation failed."""


class FileAlreadyExists(FileSystemException):
    """The destination path already exists."""


class MissingParentDirectory(FileSystemException):
    """The parent directory of a path does not exist."""


class NotADirectory(FileSystemException):
    """A path that should be a directory is not."""


class GraphError(DagcoreError):
    """The task graph cannot be resolved."""


class ExecutionError(DagcoreError):
    """A run could not be executed."""


class HistoryError(DagcoreError):
    """The run history store failed."""


class ParameterValueError(ParameterException, ValueError):
    """A parameter was given a string or value it cannot accept.

    It is a :class:`ValueError` too, so code written for Luigi (which raises ``ValueError`` from
    ``parse``) keeps catching it.
    """


class ParameterTypeError(ParameterException, TypeError):
    """A parameter was given a Python value of a type it cannot convert."""


class ModuleImportError(DagcoreError):
    """A module named with ``--module`` (or in a worker message) cannot be imported."""
