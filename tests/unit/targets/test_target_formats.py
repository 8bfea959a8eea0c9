"""dagcore.format on its own, and side by side with Luigi's formats (what user code sees)."""

from __future__ import annotations

import gc
import gzip
import io
import shutil
from pathlib import Path
from typing import Any

import luigi.format
import luigi.local_target
import pytest

from dagcore import format as fmt
from dagcore.local_target import LocalTarget

needs_tools = pytest.mark.skipif(
    shutil.which("gzip") is None or shutil.which("bzip2") is None,
    reason="Luigi compresses through the gzip and bzip2 tools",
)

# Luigi ships partial annotations; treat it as untyped so strict mypy does not object to it.
LuigiTarget: Any = luigi.local_target.LocalTarget
lformat: Any = luigi.format

TEXT = "line one\nline two ✓\n"


class _Sink(io.BytesIO):
    """A sink that records whether it was committed (closed) or aborted."""

    def __init__(self) -> None:
        super().__init__()
        self.outcome = ""
        self.data = b""

    def close(self) -> None:
        if not self.closed:
            self.data = self.getvalue()
            self.outcome = self.outcome or "committed"
        super().close()

    def abort(self) -> None:
        self.outcome = "aborted"
        super().close()


# -- dagcore on its own ------------------------------------------------------------------------


def test_default_format_is_text() -> None:
    assert fmt.get_default_format() is fmt.Text
    assert (fmt.Text.input, fmt.Text.output) == ("unicode", "bytes")


def test_chain_takes_input_of_first_and_output_of_last() -> None:
    chain = fmt.UTF8 >> fmt.Gzip
    assert isinstance(chain, fmt.ChainFormat)
    assert (chain.input, chain.output) == ("unicode", "bytes")
    longer = chain >> fmt.Nop
    assert longer.input == "unicode" and longer.output is None


def test_inconsistent_chain_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match="UTF8 >> Gzip"):
        fmt.Gzip >> fmt.UTF8
    unchecked = fmt.ChainFormat(fmt.Gzip, fmt.UTF8, check_consistency=False)
    assert unchecked.args == (fmt.Gzip, fmt.UTF8)
    with pytest.raises(TypeError):
        fmt.ChainFormat()


def test_base_format_explains_what_is_missing() -> None:
    with pytest.raises(NotImplementedError, match="Format does not implement pipe_writer"):
        fmt.Format().pipe_writer(io.BytesIO())


@pytest.mark.parametrize("chain", [fmt.Gzip, fmt.Bzip2, fmt.UTF8 >> fmt.Gzip, fmt.Text])
def test_exception_aborts_the_sink(chain: fmt.Format) -> None:
    sink = _Sink()
    with pytest.raises(KeyError):
        with chain.pipe_writer(sink) as f:
            f.write("x" if chain.input == "unicode" else b"x")
            raise KeyError
    assert sink.outcome == "aborted"


@pytest.mark.parametrize("chain", [fmt.Gzip, fmt.UTF8 >> fmt.Bzip2, fmt.Text])
def test_clean_exit_commits_the_sink_once(chain: fmt.Format) -> None:
    sink = _Sink()
    with chain.pipe_writer(sink) as f:
        f.write("x" if chain.input == "unicode" else b"x")
    assert sink.outcome == "committed"
    reader = chain.pipe_reader(io.BytesIO(sink.data))
    assert reader.read() in ("x", b"x")
    reader.close()


def test_compressed_writer_accepts_bytes_like_and_refuses_after_close() -> None:
    sink = _Sink()
    writer = fmt.Gzip.pipe_writer(sink)
    assert writer.write(bytearray(b"ab")) == 2
    assert writer.write(memoryview(b"cd")) == 2
    writer.flush()
    writer.close()
    assert gzip.decompress(sink.data) == b"abcd"
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_compression_level_is_honoured() -> None:
    data = b"compressible " * 1000
    sizes = {}
    for level in (0, 9):
        sink = _Sink()
        with fmt.GzipFormat(compression_level=level).pipe_writer(sink) as f:
            f.write(data)
        assert gzip.decompress(sink.data) == data
        sizes[level] = len(sink.data)
    assert sizes[0] > len(data) > 10 * sizes[9]


def test_reader_close_closes_the_source() -> None:
    for compression, compress in ((fmt.Gzip, gzip.compress), (fmt.Bzip2, None)):
        sink = _Sink()
        with compression.pipe_writer(sink) as f:
            f.write(b"abc")
        if compress is not None:
            assert sink.data[:2] == compress(b"abc")[:2]  # the gzip magic number
        source = io.BytesIO(sink.data)
        with compression.pipe_reader(source) as reader:
            assert reader.read() == b"abc"
        assert source.closed


def test_text_format_options(tmp_path: Path) -> None:
    crlf = LocalTarget(tmp_path / "crlf.txt", format=fmt.TextFormat(newline="\r\n"))
    with crlf.open("w") as f:
        f.write("a\nb\n")
    assert (tmp_path / "crlf.txt").read_bytes() == b"a\r\nb\r\n"
    latin = LocalTarget(tmp_path / "latin.txt", format=fmt.TextFormat(encoding="latin-1"))
    with latin.open("w") as f:
        f.write("é")
    assert (tmp_path / "latin.txt").read_bytes() == b"\xe9"
    strict = LocalTarget(tmp_path / "ascii.txt", format=fmt.TextFormat(encoding="ascii"))
    with pytest.raises(UnicodeEncodeError):
        with strict.open("w") as f:
            f.write("é")
            f.flush()
    assert not strict.exists()


class _Upper:
    """A wrapper class in the style Luigi's WrappedFormat users write."""

    def __init__(self, stream: Any, suffix: bytes = b"") -> None:
        self.stream = stream
        self.suffix = suffix

    def write(self, data: bytes) -> int:
        return int(self.stream.write(data.upper() + self.suffix))

    def read(self) -> bytes:
        return bytes(self.stream.read()).lower()

    def close(self) -> None:
        self.stream.close()


class _UpperFormat(fmt.WrappedFormat):
    input = "bytes"
    output = "bytes"
    wrapper_cls = _Upper


def test_wrapped_format_subclass_ports(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "up", format=_UpperFormat(suffix=b"!"))
    writer = target.open("w")
    writer.write(b"shout")
    writer.close()
    assert (tmp_path / "up").read_bytes() == b"SHOUT!"
    reader = target.open("r")
    assert reader.read() == b"shout!"
    reader.close()


# -- side by side with Luigi -------------------------------------------------------------------


def _write(target: Any, data: Any) -> None:
    with target.open("w") as f:
        f.write(data)


def _read(target: Any) -> Any:
    with target.open("r") as f:
        return f.read()


def test_text_files_are_byte_identical(tmp_path: Path) -> None:
    _write(LuigiTarget(str(tmp_path / "luigi.txt")), TEXT)
    _write(LocalTarget(tmp_path / "dagcore.txt"), TEXT)
    assert (tmp_path / "luigi.txt").read_bytes() == (tmp_path / "dagcore.txt").read_bytes()
    assert _read(LuigiTarget(str(tmp_path / "dagcore.txt"))) == TEXT
    assert _read(LocalTarget(tmp_path / "luigi.txt")) == TEXT


@pytest.mark.parametrize("mode", ["r", "rb"])
def test_read_types_match(tmp_path: Path, mode: str) -> None:
    (tmp_path / "f").write_bytes(TEXT.encode())
    for luigi_format, dagcore_format in ((None, None), (lformat.Nop, fmt.Nop)):
        with LuigiTarget(str(tmp_path / "f"), format=luigi_format).open(mode) as f:
            theirs = f.read()
        with LocalTarget(tmp_path / "f", format=dagcore_format).open(mode) as f:
            ours = f.read()
        assert type(ours) is type(theirs)
        assert ours == theirs


# Luigi leaves an aborted temp file's descriptor to the garbage collector (a ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_writing_bytes_to_a_text_target_fails_in_both(tmp_path: Path) -> None:
    for target in (LuigiTarget(str(tmp_path / "l")), LocalTarget(tmp_path / "d")):
        with pytest.raises(TypeError):
            _write(target, b"bytes")
    gc.collect()
    assert list(tmp_path.iterdir()) == []


# Luigi leaves an aborted temp file's descriptor to the garbage collector (a ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_exception_in_with_leaves_nothing_in_both(tmp_path: Path) -> None:
    for target in (LuigiTarget(str(tmp_path / "l")), LocalTarget(tmp_path / "d")):
        with pytest.raises(KeyError):
            with target.open("w") as f:
                f.write("partial")
                raise KeyError
        assert not target.exists()


@needs_tools
@pytest.mark.parametrize("name", ["Gzip", "Bzip2"])
def test_compressed_files_cross_read(tmp_path: Path, name: str) -> None:
    payload = bytes(range(256)) * 200
    theirs, ours = getattr(lformat, name), getattr(fmt, name)
    _write(LuigiTarget(str(tmp_path / "by_luigi"), format=theirs), payload)
    _write(LocalTarget(tmp_path / "by_dagcore", format=ours), payload)
    assert _read(LocalTarget(tmp_path / "by_luigi", format=ours)) == payload
    assert _read(LuigiTarget(str(tmp_path / "by_dagcore"), format=theirs)) == payload


@needs_tools
def test_chained_text_gzip_cross_read(tmp_path: Path) -> None:
    theirs, ours = lformat.UTF8 >> lformat.Gzip, fmt.UTF8 >> fmt.Gzip
    _write(LuigiTarget(str(tmp_path / "by_luigi"), format=theirs), TEXT)
    _write(LocalTarget(tmp_path / "by_dagcore", format=ours), TEXT)
    assert _read(LocalTarget(tmp_path / "by_luigi", format=ours)) == TEXT
    assert _read(LuigiTarget(str(tmp_path / "by_dagcore"), format=theirs)) == TEXT


def test_format_attributes_match() -> None:
    for name in ("Text", "UTF8", "Nop", "Gzip", "Bzip2"):
        theirs, ours = getattr(lformat, name), getattr(fmt, name)
        assert getattr(ours, "input", None) == getattr(theirs, "input", None), name
        assert getattr(ours, "output", None) == getattr(theirs, "output", None), name
    with pytest.raises(TypeError):
        lformat.Gzip >> lformat.UTF8
