"""S3Target, S3FlagTarget and S3Client against a real moto S3 server over HTTP.

The shared target contract runs against S3Target; the S3-specific tests cover atomic uploads,
directory semantics, listing, copying, the flag target and the errors a user sees.
"""

from __future__ import annotations

import datetime
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from dagcore.configuration import get_config, reset_config
from dagcore.contrib.s3 import (
    FileNotFoundException,
    InvalidDeleteException,
    S3BucketNotFound,
    S3Client,
    S3ConnectionError,
    S3CredentialsError,
    S3FlagTarget,
    S3PathError,
    S3Target,
    default_client,
)
from dagcore.errors import DagcoreError, FileAlreadyExists, MissingParentDirectory
from dagcore.format import UTF8, Format, Gzip, Nop
from tests.unit.targets.contract import FileSystemTargetContract

pytestmark = pytest.mark.integration


def _raw_keys(bucket: str) -> list[str]:
    """Every key in the bucket, read with plain boto3 rather than the code under test."""
    response = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


def _raw_put(bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def _raw_get(bucket: str, key: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


class TestS3TargetContract(FileSystemTargetContract):
    @pytest.fixture(autouse=True)
    def _bucket(self, s3_bucket: str) -> None:
        self.bucket = s3_bucket

    def create_target(self, path_suffix: str, format: Format | None = None) -> S3Target:
        return S3Target(f"s3://{self.bucket}/{path_suffix}", format=format)


# -- atomic writes ------------------------------------------------------------------------------


def test_object_is_absent_until_close(s3_bucket: str) -> None:
    target = S3Target(f"s3://{s3_bucket}/out/data.txt", format=UTF8)
    f = target.open("w")
    f.write("x" * 200_000)
    f.flush()
    assert _raw_keys(s3_bucket) == []
    f.close()
    assert _raw_keys(s3_bucket) == ["out/data.txt"]
    assert _raw_get(s3_bucket, "out/data.txt") == b"x" * 200_000


def test_exception_in_with_block_uploads_nothing(s3_bucket: str) -> None:
    target = S3Target(f"s3://{s3_bucket}/out/data.bin", format=Nop)
    with pytest.raises(RuntimeError, match="task failed"):
        with target.open("w") as f:
            f.write(b"partial")
            raise RuntimeError("task failed")
    assert _raw_keys(s3_bucket) == []


def test_temporary_local_file_is_removed_after_upload(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    target = S3Target(f"s3://{s3_bucket}/t.txt")
    with target.open("w") as f:
        f.write("data")
        assert len(list(tmp_path.iterdir())) == 1
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        with target.open("w") as f:
            f.write("more")
            raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_multipart_upload_of_a_large_object(s3_bucket: str, tmp_path: Path) -> None:
    # moto enforces S3's 5 MiB minimum part size, so 11 MiB in 5 MiB parts is three parts.
    data = bytes(range(256)) * (11 * 4096)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    client = S3Client()
    client.put_multipart(str(local), f"s3://{s3_bucket}/big.bin", part_size=5 * 1024 * 1024)
    assert client.get_as_bytes(f"s3://{s3_bucket}/big.bin") == data
    head = boto3.client("s3").head_object(Bucket=s3_bucket, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a three-part upload


def test_s3_options_reach_the_uploaded_object(s3_bucket: str) -> None:
    target = S3Target(f"s3://{s3_bucket}/page.html", ContentType="text/html")
    with target.open("w") as f:
        f.write("<p>hi</p>")
    head = boto3.client("s3").head_object(Bucket=s3_bucket, Key="page.html")
    assert head["ContentType"] == "text/html"


def test_reading_streams_lines(s3_bucket: str) -> None:
    lines = [f"line {i}\n" for i in range(50_000)]
    _raw_put(s3_bucket, "big.txt", "".join(lines).encode())
    with S3Target(f"s3://{s3_bucket}/big.txt", format=UTF8).open("r") as f:
        assert f.readline() == "line 0\n"
        assert list(f) == lines[1:]


def test_gzip_object_written_by_another_tool(s3_bucket: str) -> None:
    import gzip

    _raw_put(s3_bucket, "in.gz", gzip.compress(b"compressed elsewhere"))
    with S3Target(f"s3://{s3_bucket}/in.gz", format=Gzip).open("r") as f:
        assert f.read() == b"compressed elsewhere"


# -- paths and identity -------------------------------------------------------------------------


def test_uri_normalises_the_scheme(s3_bucket: str) -> None:
    assert S3Target(f"s3a://{s3_bucket}/a/b.txt").uri == f"s3://{s3_bucket}/a/b.txt"
    assert S3Target(f"s3://{s3_bucket}/a/b.txt").uri == f"s3://{s3_bucket}/a/b.txt"


@pytest.mark.parametrize("path", ["/local/file", "s3://", "s3:///key", "gs://bucket/key"])
def test_malformed_path_is_refused_at_construction(path: str) -> None:
    with pytest.raises(S3PathError, match="s3://bucket/key"):
        S3Target(path)


def test_s3_target_and_client_pickle(s3_bucket: str) -> None:
    client = S3Client()
    client.put_string("kept", f"s3://{s3_bucket}/p.txt")
    target = S3Target(f"s3://{s3_bucket}/p.txt", client=client)
    copy = pickle.loads(pickle.dumps(target))
    assert copy.fs is not client
    assert copy.fs.get_as_string(copy.path) == "kept"


def test_default_client_is_shared_until_the_environment_changes(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = default_client()
    assert default_client() is first
    assert S3Target(f"s3://{s3_bucket}/x").fs is first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-identity")
    assert default_client() is not first
    with pytest.MonkeyPatch.context() as env:
        # The config key only counts while the environment names no endpoint.
        env.delenv("AWS_ENDPOINT_URL_S3")
        without_endpoint = default_client()
        get_config().set("s3", "endpoint_url", "http://127.0.0.1:9")
        try:
            assert default_client() is not without_endpoint
        finally:
            reset_config()
        assert default_client() is without_endpoint


# -- S3Client operations ------------------------------------------------------------------------


def test_exists_isdir_for_files_and_prefixes(s3_bucket: str) -> None:
    client = S3Client()
    _raw_put(s3_bucket, "a/b/c.txt", b"c")
    root = f"s3://{s3_bucket}"
    assert client.exists(f"{root}/a/b/c.txt")
    assert not client.isdir(f"{root}/a/b/c.txt")
    for directory in (f"{root}/a", f"{root}/a/", f"{root}/a/b", f"{root}/", root):
        assert client.exists(directory), directory
        assert client.isdir(directory), directory
    assert not client.exists(f"{root}/a/b/c")
    assert not client.exists(f"{root}/a/b/c.txt/")
    assert not client.exists(f"{root}/nothing")


def test_folder_marker_suffix_counts_as_directory(s3_bucket: str) -> None:
    _raw_put(s3_bucket, "hadoop_$folder$", b"")
    client = S3Client()
    assert client.isdir(f"s3://{s3_bucket}/hadoop")
    assert client.remove(f"s3://{s3_bucket}/hadoop")
    assert _raw_keys(s3_bucket) == []


def test_listdir_and_list(s3_bucket: str) -> None:
    client = S3Client()
    for key in ("d/1.txt", "d/sub/2.txt", "d/sub/deeper/3.txt", "dx/not-inside.txt"):
        _raw_put(s3_bucket, key, key.encode())
    client.mkdir(f"s3://{s3_bucket}/d/empty")
    expected = ["d/1.txt", "d/empty/", "d/sub/2.txt", "d/sub/deeper/3.txt"]
    assert list(client.listdir(f"s3://{s3_bucket}/d")) == [
        f"s3://{s3_bucket}/{key}" for key in expected
    ]
    assert list(client.list(f"s3://{s3_bucket}/d/")) == [k[2:] for k in expected]
    infos = list(client.listdir(f"s3://{s3_bucket}/d", return_key=True))
    assert [(i.key, i.size) for i in infos] == [
        (k, len(k) if k[-1] != "/" else 0) for k in expected
    ]


def test_listdir_time_window(s3_bucket: str) -> None:
    client = S3Client()
    _raw_put(s3_bucket, "t/a", b"a")
    modified = client.info(f"s3://{s3_bucket}/t/a").last_modified
    second = datetime.timedelta(seconds=1)
    assert list(client.list(f"s3://{s3_bucket}/t", start_time=modified - second)) == ["a"]
    assert list(client.list(f"s3://{s3_bucket}/t", start_time=modified + second)) == []
    assert list(client.list(f"s3://{s3_bucket}/t", end_time=modified + second)) == ["a"]
    assert list(client.list(f"s3://{s3_bucket}/t", end_time=modified - second)) == []


def test_listdir_pages_past_a_thousand_keys(s3_bucket: str) -> None:
    s3 = boto3.client("s3")
    with ThreadPoolExecutor(max_workers=8) as pool:
        for job in [
            pool.submit(s3.put_object, Bucket=s3_bucket, Key=f"many/{i:05d}", Body=b"")
            for i in range(1005)
        ]:
            job.result()
    assert len(list(S3Client().list(f"s3://{s3_bucket}/many"))) == 1005
    assert S3Client().remove(f"s3://{s3_bucket}/many")
    assert _raw_keys(s3_bucket) == []


def test_remove_semantics(s3_bucket: str) -> None:
    client = S3Client()
    root = f"s3://{s3_bucket}"
    assert client.remove(f"{root}/absent") is False
    _raw_put(s3_bucket, "dir/f1", b"1")
    _raw_put(s3_bucket, "dir/sub/f2", b"2")
    _raw_put(s3_bucket, "dir-sibling", b"keep")
    with pytest.raises(InvalidDeleteException, match="recursive=True"):
        client.remove(f"{root}/dir", recursive=False)
    with pytest.raises(InvalidDeleteException, match="root"):
        client.remove(f"{root}/")
    assert client.remove(f"{root}/dir/f1") is True
    assert client.remove(f"{root}/dir/") is True
    assert _raw_keys(s3_bucket) == ["dir-sibling"]


def test_mkdir(s3_bucket: str) -> None:
    client = S3Client()
    root = f"s3://{s3_bucket}"
    client.mkdir(f"{root}/made")
    assert _raw_keys(s3_bucket) == ["made/"]
    assert client.isdir(f"{root}/made")
    with pytest.raises(FileAlreadyExists):
        client.mkdir(f"{root}/made", raise_if_exists=True)
    with pytest.raises(MissingParentDirectory, match="parents=True"):
        client.mkdir(f"{root}/no/parent", parents=False)
    client.mkdir(f"{root}/made/child", parents=False)
    assert client.isdir(f"{root}/made/child/")


def test_put_get_copy_move(s3_bucket: str, tmp_path: Path) -> None:
    client = S3Client()
    root = f"s3://{s3_bucket}"
    client.put_string("héllo", f"{root}/s.txt")
    assert client.get_as_string(f"{root}/s.txt") == "héllo"
    assert client.get_as_bytes(f"{root}/s.txt") == "héllo".encode()
    local = tmp_path / "up.bin"
    local.write_bytes(b"\x00\x01")
    client.put(str(local), f"{root}/src/up.bin")
    client.get(f"{root}/src/up.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == b"\x00\x01"

    assert client.copy(f"{root}/s.txt", f"{root}/copy.txt") == (1, len("héllo".encode()))
    client.put_string("second", f"{root}/src/nested/two.txt")
    assert client.copy(f"{root}/src", f"{root}/dst") == (2, 2 + 6)
    assert _raw_get(s3_bucket, "dst/nested/two.txt") == b"second"

    client.move(f"{root}/dst", f"{root}/moved")
    assert not client.exists(f"{root}/dst")
    assert sorted(client.list(f"{root}/moved")) == ["nested/two.txt", "up.bin"]
    with pytest.raises(FileNotFoundException):
        client.copy(f"{root}/nothing-here", f"{root}/x")


# -- the flag target ----------------------------------------------------------------------------


def test_flag_target_is_complete_only_with_its_flag(s3_bucket: str) -> None:
    target = S3FlagTarget(f"s3://{s3_bucket}/job-output/")
    client = S3Client()
    client.put_string("part", f"s3://{s3_bucket}/job-output/part-00000")
    assert client.isdir(target.path)
    assert not target.exists()
    client.put_string("", f"s3://{s3_bucket}/job-output/_SUCCESS")
    assert target.exists()
    assert target.uri == f"s3://{s3_bucket}/job-output/"


def test_flag_target_with_custom_flag(s3_bucket: str) -> None:
    target = S3FlagTarget(f"s3://{s3_bucket}/out/", flag="DONE")
    S3Client().put_string("", f"s3://{s3_bucket}/out/_SUCCESS")
    assert not target.exists()
    S3Client().put_string("", f"s3://{s3_bucket}/out/DONE")
    assert target.exists()


def test_flag_target_path_must_be_a_directory(s3_bucket: str) -> None:
    with pytest.raises(S3PathError, match="must be a directory ending with '/'"):
        S3FlagTarget(f"s3://{s3_bucket}/job-output")


# -- errors a user sees -------------------------------------------------------------------------


def test_no_credentials_gives_a_hint(moto_endpoint: str, aws_clean_env: pytest.MonkeyPatch) -> None:
    aws_clean_env.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    target = S3Target("s3://some-bucket/key.txt", client=S3Client())
    with pytest.raises(S3CredentialsError) as info:
        target.exists()
    message = str(info.value)
    assert "s3://some-bucket/key.txt" in message
    assert "AWS_ACCESS_KEY_ID" in message
    assert "never takes credentials as code arguments" in message
    assert isinstance(info.value, DagcoreError)
    assert info.value.__cause__ is None  # no botocore traceback chained under it


def test_credentials_in_code_are_refused() -> None:
    with pytest.raises(S3CredentialsError, match="does not accept credentials in code"):
        S3Client(aws_access_key_id="AKIA...", aws_secret_access_key="secret")
    with pytest.raises(TypeError, match="unexpected arguments: bogus"):
        S3Client(bogus=1)


def test_missing_bucket_is_named(s3_env: str) -> None:
    target = S3Target("s3://dagcore-no-such-bucket/key.txt")
    with pytest.raises(S3BucketNotFound, match="bucket 'dagcore-no-such-bucket' does not exist"):
        target.exists()
    with pytest.raises(S3BucketNotFound, match="create it or fix the path"):
        with target.open("w") as f:
            f.write("data")
    with pytest.raises((S3BucketNotFound, FileNotFoundException)):
        target.open("r")


def test_missing_object_raises_file_not_found(s3_bucket: str) -> None:
    with pytest.raises(FileNotFoundError, match="no object exists"):
        S3Target(f"s3://{s3_bucket}/absent.txt").open("r")
    with pytest.raises(FileNotFoundException):
        S3Client().get_as_string(f"s3://{s3_bucket}/absent.txt")


def test_unreachable_endpoint(aws_clean_env: pytest.MonkeyPatch) -> None:
    aws_clean_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_clean_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # Port 9 (discard) on localhost is closed on any sane test machine.
    client = S3Client(endpoint_url="http://127.0.0.1:9")
    with pytest.raises(S3ConnectionError, match="check the endpoint"):
        client.exists("s3://bucket/key")


def test_endpoint_from_config_when_environment_has_none(moto_endpoint: str, s3_bucket: str) -> None:
    get_config().set("s3", "endpoint_url", moto_endpoint)
    try:
        # A context of its own, so the bucket fixture's clean-up still sees the endpoint.
        with pytest.MonkeyPatch.context() as env:
            env.delenv("AWS_ENDPOINT_URL_S3")
            S3Client().put_string("via config", f"s3://{s3_bucket}/c.txt")
    finally:
        reset_config()
    assert _raw_get(s3_bucket, "c.txt") == b"via config"


def test_environment_endpoint_wins_over_config(s3_bucket: str) -> None:
    get_config().set("s3", "endpoint_url", "http://127.0.0.1:9")
    try:
        S3Client().put_string("via env", f"s3://{s3_bucket}/e.txt")
    finally:
        reset_config()
    assert _raw_get(s3_bucket, "e.txt") == b"via env"
