"""Formats: how the bytes of a target are turned into what ``open()`` hands to user code.

A format wraps a raw binary stream twice: ``pipe_reader`` around a stream that reads the stored
bytes, ``pipe_writer`` around a sink that stores them. Formats chain with ``>>``: in ``UTF8 >>
Gzip`` user code writes text, ``UTF8`` encodes it and ``Gzip`` compresses the result.

The names and semantics are Luigi's (``Text`` is the default, so ``open('w')`` takes ``str``;
``Nop`` hands over the raw binary stream; ``Gzip`` and ``Bzip2`` take and give ``bytes``), but
compression runs in-process through :mod:`zlib`, :mod:`gzip` and :mod:`bz2`, not in a
``gzip``/``bzip2`` subprocess.

Writers follow one protocol so that a failed write never becomes a visible file:
``close()`` commits, ``abort()`` discards, ``__exit__`` commits only when the block raised
nothing, and a writer garbage-collected without ``close()`` discards. Every wrapper passes the
decision down to the sink beneath it, which is where the atomicity lives (see
:class:`dagcore.target.AtomicLocalFile`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import locale
import os
import re
import warnings
import zlib
from types import TracebackType
from typing import IO, Any, Protocol, cast

from dagcore.atomic import CommitOnCleanExit

__all__ = [
    "Bzip2",
    "Bzip2Format",
    "ChainFormat",
    "Format",
    "Gzip",
    "GzipFormat",
    "MixedUnicodeBytes",
    "MixedUnicodeBytesFormat",
    "MixedUnicodeBytesWrapper",
    "NewlineFormat",
    "NewlineWrapper",
    "Nop",
    "NopFormat",
    "SysNewLine",
    "Text",
    "TextFormat",
    "TextWrapper",
    "UTF8",
    "WrappedFormat",
    "abort_stream",
    "as_stream",
    "get_default_format",
]


def abort_stream(stream: Any) -> None:
    """Abandon a write on ``stream``.

    Sinks and wrappers from dagcore discard what was written; a stream without ``abort()``
    (a plain file handed to ``pipe_writer``) can only be closed.

    Args:
        stream: The stream to abandon.
    """
    abort = getattr(stream, "abort", None)
    if callable(abort):
        abort()
    else:
        stream.close()


class Format:
    """Base class of formats.

    ``input`` is what user code exchanges with the format and ``output`` what it exchanges with
    the stream beneath (``"unicode"`` or ``"bytes"``); ``None`` means "anything", which is how
    :class:`NopFormat` escapes the consistency check of :class:`ChainFormat`.
    """

    input: str | None = None
    output: str | None = None

    def pipe_reader(self, input_pipe: Any) -> Any:
        """Wrap a binary stream that reads stored bytes.

        Args:
            input_pipe: The stream to read from; closing the result closes it.

        Returns:
            The stream user code reads from.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement pipe_reader()")

    def pipe_writer(self, output_pipe: Any) -> Any:
        """Wrap a binary sink that stores bytes.

        Args:
            output_pipe: The sink to write to; closing the result commits it.

        Returns:
            The stream user code writes to.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement pipe_writer()")

    def __rshift__(self, other: Format) -> ChainFormat:
        return ChainFormat(self, other)


class ChainFormat(Format):
    """Several formats applied in turn; the first one faces user code.

    Args:
        *formats: The formats, user side first.
        check_consistency: Raise ``TypeError`` when a format's output is not what the next one
            takes as input.
    """

    def __init__(self, *formats: Format, check_consistency: bool = True) -> None:
        if not formats:
            raise TypeError("ChainFormat needs at least one format")
        self.args = formats
        self.input = formats[0].input
        self.output = formats[-1].output
        if check_consistency:
            for upper, lower in zip(formats, formats[1:], strict=False):
                if None not in (upper.output, lower.input) and upper.output != lower.input:
                    raise TypeError(
                        f"The format chaining is not valid, {type(lower).__name__} expects "
                        f"{lower.input} but {type(upper).__name__} provides {upper.output}; "
                        "put the text format first, e.g. UTF8 >> Gzip"
                    )

    def pipe_reader(self, input_pipe: Any) -> Any:
        for fmt in reversed(self.args):
            input_pipe = fmt.pipe_reader(input_pipe)
        return input_pipe

    def pipe_writer(self, output_pipe: Any) -> Any:
        for fmt in reversed(self.args):
            output_pipe = fmt.pipe_writer(output_pipe)
        return output_pipe


class NopFormat(Format):
    """Hands the binary stream over untouched: user code reads and writes ``bytes``."""

    def pipe_reader(self, input_pipe: Any) -> Any:
        return input_pipe

    def pipe_writer(self, output_pipe: Any) -> Any:
        return output_pipe


class TextWrapper(io.TextIOWrapper):
    """A text stream over a binary one that lets the binary stream decide about committing.

    :class:`io.TextIOWrapper` would close (and so commit) its buffer when a ``with`` block
    raises or when it is garbage-collected; here both cases abort the buffer instead.
    """

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(
                f"write() argument must be str, not {type(s).__name__}: this target has a text "
                "format, open a target created with format=Nop (or Gzip, Bzip2) to write bytes"
            )
        return super().write(s)

    def abort(self) -> None:
        """Discard everything written: the buffer is aborted, not flushed."""
        if not self.closed:
            abort_stream(self.buffer)

    def __enter__(self) -> TextWrapper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.closed:
            return
        if exc_type is None or not self.writable():
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A finalizer must not raise, and a half-initialised wrapper has no buffer to ask about;
        # an unclosed writer is discarded rather than committed, as a crash would leave it.
        try:
            if not self.closed:
                if self.writable():
                    self.abort()
                else:
                    self.close()
        except Exception:
            pass


class WrappedFormat(Format):
    """A format whose streams are ``wrapper_cls(stream, *args, **kwargs)``.

    Subclasses set ``wrapper_cls``; Luigi formats written this way port unchanged.
    """

    wrapper_cls: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def pipe_reader(self, input_pipe: Any) -> Any:
        return self.wrapper_cls(input_pipe, *self.args, **self.kwargs)

    def pipe_writer(self, output_pipe: Any) -> Any:
        return self.wrapper_cls(output_pipe, *self.args, **self.kwargs)


class TextFormat(WrappedFormat):
    """Text over bytes through :class:`TextWrapper`.

    Args:
        encoding: The text encoding; ``None`` means the locale's, as :func:`open` uses.
        errors: The codec error handler (``"strict"`` when ``None``).
        newline: Newline translation, as for :func:`open`.
    """

    input = "unicode"
    output = "bytes"
    wrapper_cls = TextWrapper

    def __init__(
        self, encoding: str | None = None, errors: str | None = None, newline: str | None = None
    ) -> None:
        # "locale" is what None means anyway; spelling it out keeps EncodingWarning quiet.
        super().__init__(encoding=encoding or "locale", errors=errors, newline=newline)


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class CompressingWriter(CommitOnCleanExit, io.BufferedIOBase):
    """A binary writer that compresses into a sink and commits the sink on close.

    Args:
        sink: The binary stream the compressed bytes go to.
        compressor: A ``zlib``/``bz2`` compressor object.
    """

    def __init__(self, sink: Any, compressor: _Compressor) -> None:
        super().__init__()
        self._sink = sink
        self._compressor = compressor

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed compressed stream")
        view = memoryview(data)
        chunk = self._compressor.compress(view)  # type: ignore[arg-type]
        if chunk:
            self._sink.write(chunk)
        return view.nbytes

    def flush(self) -> None:
        # Flushing the compressor itself would end a deflate block and hurt the ratio; callers
        # that flush only need the bytes handed to the sink so far pushed on.
        if not self.closed:
            self._sink.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._sink.write(self._compressor.flush())
            self._sink.flush()
        except BaseException:
            self.abort()
            raise
        super().close()
        self._sink.close()

    def abort(self) -> None:
        """Discard the stream: the sink is aborted and the compressor's tail never written."""
        if self.closed:
            return
        super().close()
        abort_stream(self._sink)


class _ClosingGzipReader(gzip.GzipFile):
    """``GzipFile`` leaves a passed-in file object open; user code expects close() to close it."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        super().__init__(fileobj=raw, mode="rb")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class _ClosingBz2Reader(bz2.BZ2File):
    """``BZ2File`` leaves a passed-in file object open; user code expects close() to close it."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        super().__init__(raw, mode="rb")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class GzipFormat(Format):
    """gzip compression of bytes (RFC 1952), readable by ``gunzip``.

    Args:
        compression_level: 1 (fast) to 9 (small); ``None`` uses 6, the ``gzip`` tool's default.
    """

    input = "bytes"
    output = "bytes"

    def __init__(self, compression_level: int | None = None) -> None:
        self.compression_level = compression_level

    def pipe_reader(self, input_pipe: Any) -> Any:
        return _ClosingGzipReader(input_pipe)

    def pipe_writer(self, output_pipe: Any) -> Any:
        level = 6 if self.compression_level is None else int(self.compression_level)
        # wbits 16 + MAX_WBITS makes zlib emit the gzip header and CRC trailer itself.
        compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return CompressingWriter(output_pipe, compressor)


class Bzip2Format(Format):
    """bzip2 compression of bytes, readable by ``bunzip2``.

    Args:
        compression_level: 1 to 9; ``None`` uses 9, the ``bzip2`` tool's default.
    """

    input = "bytes"
    output = "bytes"

    def __init__(self, compression_level: int | None = None) -> None:
        self.compression_level = compression_level

    def pipe_reader(self, input_pipe: Any) -> Any:
        return _ClosingBz2Reader(input_pipe)

    def pipe_writer(self, output_pipe: Any) -> Any:
        level = 9 if self.compression_level is None else int(self.compression_level)
        return CompressingWriter(output_pipe, bz2.BZ2Compressor(level))


# -- byte wrappers: newline translation, str written to a bytes stream ----------------------------

_ANY_NEWLINE = re.compile(b"\r\n|\r|\n")


class _ByteStreamWrapper:
    """A binary stream seen through a translation; anything not translated goes straight to
    the stream, and so do the commit decisions (``close`` commits, ``abort`` discards, a
    ``with`` block that raises aborts)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        if name == "_stream":  # not set yet: __init__ has not run
            raise AttributeError(name)
        return getattr(self._stream, name)

    def close(self) -> None:
        self._stream.close()

    def abort(self) -> None:
        abort_stream(self._stream)

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None or not self._stream.writable():
            self.close()
        else:
            self.abort()

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def readline(self, size: int | None = -1) -> bytes:
        line: bytes = self._stream.readline(size)
        return line

    def readlines(self) -> list[bytes]:
        return list(self)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def write(self, data: Any) -> int:
        written: int = self._stream.write(data)
        return written


class NewlineWrapper(_ByteStreamWrapper):
    """Newline translation of bytes, with :func:`open`'s rules for ``newline``.

    Reading: ``None`` turns ``\\r\\n`` and ``\\r`` into ``\\n``; anything else leaves the
    bytes as stored. Writing: ``None`` turns every newline into :data:`os.linesep` (looked up
    at each write); ``""`` and ``"\\n"`` write bytes as given; ``"\\r"`` and ``"\\r\\n"``
    turn every newline into that sequence. A ``\\r\\n`` split across two reads or writes is
    one newline.
    """

    def __init__(self, stream: Any, newline: str | bytes | None = None) -> None:
        if isinstance(newline, str):
            newline = newline.encode("ascii")
        if newline not in (None, b"", b"\n", b"\r", b"\r\n"):
            raise ValueError(f"illegal newline value: {newline!r}")
        super().__init__(stream)
        self.newline = newline
        self._read_cr = False  # the last byte read was a \r turned into \n
        self._wrote_cr = False  # the last byte written was a \r turned into a newline

    def _translate(self, data: bytes, newline: bytes, after_cr: bool) -> bytes:
        if after_cr and data.startswith(b"\n"):
            data = data[1:]  # the \n of a \r\n whose \r was translated already
        return _ANY_NEWLINE.sub(newline, data)

    def read(self, size: int | None = -1) -> bytes:
        return self._read_with(self._stream.read, size)

    def read1(self, size: int = -1) -> bytes:
        # Text wrappers read through read1 when the stream has it: translate there too.
        return self._read_with(getattr(self._stream, "read1", self._stream.read), size)

    def _read_with(self, reader: Any, size: int | None) -> bytes:
        data: bytes = reader(size)
        if self.newline is not None or not data:
            return data
        translated = self._translate(data, b"\n", self._read_cr)
        self._read_cr = data.endswith(b"\r")
        if not translated:  # only the \n of a split \r\n: read on
            return self._read_with(reader, size)
        return translated

    def readline(self, size: int | None = -1) -> bytes:
        line: bytes = self._stream.readline(size)
        if self.newline is not None or not line:
            return line
        translated = self._translate(line, b"\n", self._read_cr)
        self._read_cr = line.endswith(b"\r")
        return translated if translated or not line else self.readline(size)

    def __iter__(self) -> Any:
        for raw in iter(self.readline, b""):
            # A lone \r inside a stored line was a line break of its own.
            yield from raw.splitlines(keepends=True)

    def write(self, data: Any) -> int:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"a bytes-like object is required, not {type(data).__name__}")
        raw = bytes(data)
        target = self.newline
        if target is None:
            target = os.linesep.encode("ascii")
        elif target in (b"", b"\n"):
            self._stream.write(raw)
            return len(raw)
        if raw:
            self._stream.write(self._translate(raw, target, self._wrote_cr))
            self._wrote_cr = raw.endswith(b"\r")
        return len(raw)


class MixedUnicodeBytesWrapper(_ByteStreamWrapper):
    """A bytes stream that also takes ``str``, encoded (with a warning: mixing is a smell)."""

    def __init__(self, stream: Any, encoding: str | None = None) -> None:
        super().__init__(stream)
        self.encoding = encoding or locale.getpreferredencoding(False)

    def write(self, data: Any) -> int:
        if isinstance(data, str):
            warnings.warn("Writing unicode to byte stream", stacklevel=2)
            data = data.encode(self.encoding)
        written: int = self._stream.write(data)
        return written


class NewlineFormat(WrappedFormat):
    """Bytes with newline translation (:class:`NewlineWrapper`); ``SysNewLine`` writes the
    platform's newline and reads any newline as ``\\n``."""

    input = "bytes"
    output = "bytes"
    wrapper_cls = NewlineWrapper


class MixedUnicodeBytesFormat(WrappedFormat):
    """Bytes that accept ``str`` too (:class:`MixedUnicodeBytesWrapper`)."""

    output = "bytes"
    wrapper_cls = MixedUnicodeBytesWrapper


Text = TextFormat()
UTF8 = TextFormat(encoding="utf8")
Nop = NopFormat()
SysNewLine = NewlineFormat()
MixedUnicodeBytes = MixedUnicodeBytesFormat()
Gzip = GzipFormat()
Bzip2 = Bzip2Format()


def get_default_format() -> Format:
    """Return the format targets use when none is given: :data:`Text`."""
    return Text


def as_stream(obj: Any) -> IO[Any]:
    """Type a stream returned by a format for callers that want ``IO``.

    Format streams are duck-typed (``GzipFile`` is no ``typing.IO``); this only narrows the
    static type.
    """
    return cast(IO[Any], obj)
