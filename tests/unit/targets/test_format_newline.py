"""SysNewLine / NewlineFormat and MixedUnicodeBytes: byte formats that translate."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dagcore import format as fmt
from dagcore.local_target import LocalTarget


def test_sysnewline_writes_the_platform_newline_and_reads_plain_newlines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.linesep", "\r\n")
    target = LocalTarget(str(tmp_path / "lines.txt"), fmt.SysNewLine)
    with target.open("w") as out:
        out.write(b"a\rb\nc\r\nd")
    assert (tmp_path / "lines.txt").read_bytes() == b"a\r\nb\r\nc\r\nd"
    with target.open("r") as src:
        assert src.read() == b"a\nb\nc\nd"
    with target.open("r") as src:
        assert list(src) == [b"a\n", b"b\n", b"c\n", b"d"]


def test_a_crlf_split_across_writes_is_one_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.linesep", "\n")
    sink = io.BytesIO()
    writer = fmt.NewlineWrapper(sink)
    writer.write(b"a\r")
    writer.write(b"\nb\r")
    writer.write(b"c")
    assert sink.getvalue() == b"a\nb\nc"


def test_a_crlf_split_across_reads_is_one_newline() -> None:
    reader = fmt.NewlineWrapper(io.BytesIO(b"a\r\nb"))
    assert reader.read(2) == b"a\n"
    assert reader.read(2) == b"b"
    assert reader.read(2) == b""


def test_explicit_newlines_follow_open_rules() -> None:
    sink = io.BytesIO()
    fmt.NewlineWrapper(sink, newline="\r\n").write(b"a\nb\rc")
    assert sink.getvalue() == b"a\r\nb\r\nc"
    untouched = io.BytesIO()
    fmt.NewlineWrapper(untouched, newline="").write(b"a\r\nb\r")
    assert untouched.getvalue() == b"a\r\nb\r"
    with pytest.raises(ValueError, match="illegal newline"):
        fmt.NewlineWrapper(io.BytesIO(), newline="x")


def test_newline_writer_takes_bytes_only(tmp_path: Path) -> None:
    target = LocalTarget(str(tmp_path / "t"), fmt.SysNewLine)
    with pytest.raises(TypeError, match="bytes-like"):
        with target.open("w") as out:
            out.write("text")
    assert not target.exists()  # the failed block left nothing behind


def test_text_over_sysnewline_chains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.linesep", "\r\n")
    target = LocalTarget(str(tmp_path / "t"), fmt.UTF8 >> fmt.SysNewLine)
    with target.open("w") as out:
        out.write("é\nx\n")
    assert (tmp_path / "t").read_bytes() == "é\r\nx\r\n".encode()


def test_mixed_unicode_bytes_encodes_str_with_a_warning(tmp_path: Path) -> None:
    target = LocalTarget(str(tmp_path / "m"), fmt.MixedUnicodeBytes)
    with target.open("w") as out:
        out.write(b"bytes,")
        with pytest.warns(UserWarning, match="Writing unicode to byte stream"):
            out.write("text")
    assert (tmp_path / "m").read_bytes() == b"bytes,text"


def test_open_with_a_non_string_mode_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="mode must be a str"):
        LocalTarget(str(tmp_path / "x")).open(None)  # type: ignore[arg-type]


def test_text_read_through_sysnewline_sees_plain_newlines(tmp_path: Path) -> None:
    (tmp_path / "t").write_bytes(b"a\r\nb\rc\n")
    target = LocalTarget(str(tmp_path / "t"), fmt.TextFormat(newline="") >> fmt.SysNewLine)
    with target.open("r") as src:
        assert src.read() == "a\nb\nc\n"  # no text-level translation: the bytes were
