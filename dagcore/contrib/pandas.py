"""Read and write pandas DataFrames through any target's ``open()``.

The helpers only use ``target.open("r")``/``target.open("w")``, so they work the same for
:class:`~dagcore.local_target.LocalTarget`, :class:`~dagcore.mock.MockTarget`,
:class:`~dagcore.contrib.s3.S3Target` and any other file-like target, and writes keep the
target's atomicity: a DataFrame that fails to serialise leaves nothing behind.

CSV is text and goes through the target's format as is (``Text``, ``UTF8``, ``UTF8 >> Gzip``;
a binary format such as ``Nop`` gets UTF-8). Parquet is binary: on a target with a binary
format (``Nop``, ``Gzip``) the bytes go straight through; on a target with a text format the
text layer is bypassed and the bytes go to the stream beneath it, so
``write_parquet(df, LocalTarget("x.parquet"))`` works without ``format=Nop``. Parquet readers
seek, so a stream other than a plain file or memory buffer (S3, gzip) is read into memory first.
"""

from __future__ import annotations

import io
from typing import IO, Any, Protocol

try:
    import pandas as pd
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("dagcore.contrib.pandas needs pandas: pip install 'dagcore[pandas]'") from exc

__all__ = ["OpenableTarget", "read_csv", "read_parquet", "write_csv", "write_parquet"]

_SEEKABLE_TYPES = (io.BufferedReader, io.BytesIO, io.FileIO)


class OpenableTarget(Protocol):
    """What the helpers need of a target: ``open("r")`` and ``open("w")``."""

    def open(self, mode: str = "r") -> IO[Any]:
        """Open the target's data for reading (``"r"``) or writing (``"w"``)."""
        ...


def _binary(stream: Any) -> Any:
    # A text stream from a format still has the binary stream it decodes as .buffer; nothing
    # has been read through or written to the text layer, so using the buffer is safe.
    return stream.buffer if isinstance(stream, io.TextIOWrapper) else stream


def read_csv(target: OpenableTarget, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV file from ``target``.

    Args:
        target: Any target with ``open()``.
        **kwargs: Passed to :func:`pandas.read_csv`.
    """
    with target.open("r") as stream:
        frame: pd.DataFrame = pd.read_csv(stream, **kwargs)
    return frame


def write_csv(df: pd.DataFrame, target: OpenableTarget, **kwargs: Any) -> None:
    """Write ``df`` as CSV to ``target``; the file appears only if the whole write succeeds.

    Args:
        df: The DataFrame.
        target: Any target with ``open()``.
        **kwargs: Passed to :meth:`pandas.DataFrame.to_csv`. ``index`` defaults to ``False``
            (unlike pandas) so that :func:`read_csv` gives back the same columns.
    """
    kwargs.setdefault("index", False)
    with target.open("w") as stream:
        df.to_csv(stream, **kwargs)


def read_parquet(target: OpenableTarget, **kwargs: Any) -> pd.DataFrame:
    """Read a Parquet file from ``target``.

    Args:
        target: Any target with ``open()``, whatever its format (see the module docstring).
        **kwargs: Passed to :func:`pandas.read_parquet` (``columns=``, ``filters=``...).
    """
    with target.open("r") as stream:
        binary = _binary(stream)
        # Parquet readers seek to the footer and back. Plain files and memory buffers do that
        # cheaply; S3 streams cannot, and decompressors only by decompressing again.
        if not (isinstance(binary, _SEEKABLE_TYPES) and binary.seekable()):
            binary = io.BytesIO(binary.read())
        frame: pd.DataFrame = pd.read_parquet(binary, **kwargs)
    return frame


def write_parquet(df: pd.DataFrame, target: OpenableTarget, **kwargs: Any) -> None:
    """Write ``df`` as Parquet to ``target``; the file appears only if the whole write succeeds.

    The file is serialised in memory first: Parquet writers may seek, which upload and
    compression streams cannot, and a DataFrame that fails to serialise never opens the target.

    Args:
        df: The DataFrame.
        target: Any target with ``open()``, whatever its format (see the module docstring).
        **kwargs: Passed to :meth:`pandas.DataFrame.to_parquet` (``compression=``,
            ``index=``...).
    """
    data = df.to_parquet(None, **kwargs)
    with target.open("w") as stream:
        _binary(stream).write(data)
