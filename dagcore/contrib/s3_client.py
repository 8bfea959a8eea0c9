"""The S3 file system: :class:`S3Client`, with Luigi's method names, on a boto3 client.

Credentials are never taken as arguments: boto3 finds them itself (environment variables, a
profile, web identity, an instance or container role). The endpoint of an S3-compatible store
comes from ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (read by boto3) or, when neither is set,
from the ``[s3] endpoint_url`` configuration key.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from dagcore.configuration import get_config
from dagcore.contrib.s3_errors import (
    CREDENTIAL_HINT,
    FileNotFoundException,
    InvalidDeleteException,
    S3CredentialsError,
    as_dir_prefix,
    s3_errors,
    split_path,
)
from dagcore.errors import FileAlreadyExists, MissingParentDirectory
from dagcore.target import FileSystem

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config as BotoConfig
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("dagcore.contrib.s3 needs boto3: pip install 'dagcore[s3]'") from exc

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client as BotoS3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["S3Client", "S3ObjectInfo", "default_client"]

# Hadoop-era tools mark an empty "directory" with this suffix instead of a trailing slash.
_FOLDER_MARKER_SUFFIX = "_$folder$"
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request accepts

# What selects the identity and endpoint boto3 ends up with; a shared client is reused only
# while all of these are unchanged.
_CLIENT_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass(frozen=True)
class S3ObjectInfo:
    """One listed object: where it is, how big, and when it was last written."""

    bucket: str
    key: str
    size: int
    last_modified: datetime.datetime

    @property
    def path(self) -> str:
        """The object's ``s3://bucket/key`` path."""
        return f"s3://{self.bucket}/{self.key}"


def _configured_endpoint() -> str | None:
    # boto3 reads the endpoint variables itself and an explicit endpoint_url would override
    # them, so the config file is only consulted when the environment says nothing.
    if os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    value = get_config().get("s3", "endpoint_url", default=None)
    return str(value) if value else None


class S3Client(FileSystem):
    """An S3 file system with Luigi's ``S3Client`` method names, on a boto3 client.

    The boto3 client is created on first use and shared by the threads using this object
    (boto3 clients are thread-safe). Directories follow S3 conventions: a key prefix ending
    in ``/``, possibly with an empty marker object (``dir/`` or ``dir_$folder$``).

    Args:
        endpoint_url: An S3-compatible endpoint. By default the environment
            (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``) or ``[s3] endpoint_url`` decides.
        region_name: The region; by default boto3's own resolution.
        **rejected: Not accepted; present so that Luigi-style credential arguments
            (``aws_access_key_id=...``) fail with an explanation.

    Raises:
        S3CredentialsError: Credentials were passed as arguments.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        **rejected: object,
    ) -> None:
        if rejected:
            names = ", ".join(sorted(rejected))
            if any(name.startswith("aws_") for name in rejected):
                raise S3CredentialsError(
                    f"S3Client does not accept credentials in code (got {names}). "
                    + CREDENTIAL_HINT
                )
            raise TypeError(f"S3Client got unexpected arguments: {names}")
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._client: BotoS3Client | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # A boto3 client and a lock cannot be pickled; the copy builds its own client.
        return {"endpoint_url": self._endpoint_url, "region_name": self._region_name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._endpoint_url = state["endpoint_url"]
        self._region_name = state["region_name"]
        self._client = None
        self._lock = threading.Lock()

    @property
    def boto_client(self) -> BotoS3Client:
        """The underlying boto3 S3 client, created on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    session = boto3.session.Session(region_name=self._region_name)
                    self._client = session.client(
                        "s3",
                        endpoint_url=self._endpoint_url or _configured_endpoint(),
                        config=BotoConfig(retries={"mode": "standard"}),
                    )
        return self._client

    # -- queries --------------------------------------------------------------------------

    def _object_exists(self, bucket: str, key: str, path: str) -> bool:
        try:
            with s3_errors("check", path):
                self.boto_client.head_object(Bucket=bucket, Key=key)
        except FileNotFoundException:
            return False
        return True

    def exists(self, path: str) -> bool:
        """Return whether an object or a directory exists at ``path``.

        Raises:
            S3BucketNotFound: The bucket does not exist.
        """
        bucket, key = split_path(path)
        if key in ("", "/"):
            return self._bucket_exists(bucket, path)
        if not key.endswith("/") and self._object_exists(bucket, key, path):
            return True
        return self.isdir(path)

    def _bucket_exists(self, bucket: str, path: str) -> bool:
        try:
            with s3_errors("check", path):
                self.boto_client.head_bucket(Bucket=bucket)
        except FileNotFoundException:
            return False
        return True

    def isdir(self, path: str) -> bool:
        """Return whether ``path`` is a directory: a bucket root, a marker or a key prefix.

        Raises:
            S3BucketNotFound: The bucket does not exist.
        """
        bucket, key = split_path(path)
        if key in ("", "/"):
            return True
        base = key.rstrip("/")
        with s3_errors("list", path):
            # One listing covers both the "dir/" marker and any object below the prefix.
            page = self.boto_client.list_objects_v2(Bucket=bucket, Prefix=base + "/", MaxKeys=1)
        if page.get("KeyCount", 0) > 0:
            return True
        return self._object_exists(bucket, base + _FOLDER_MARKER_SUFFIX, path)

    is_dir = isdir

    def info(self, path: str) -> S3ObjectInfo:
        """Return the size and modification time of the object at ``path``.

        Raises:
            FileNotFoundException: There is no object at ``path``.
        """
        bucket, key = split_path(path)
        with s3_errors("stat", path):
            head = self.boto_client.head_object(Bucket=bucket, Key=key)
        return S3ObjectInfo(bucket, key, head["ContentLength"], head["LastModified"])

    def list_objects(
        self,
        path: str,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
    ) -> Iterator[S3ObjectInfo]:
        """Yield every object below the directory ``path``, recursively, in key order.

        The directory's own marker object is left out. ``start_time``/``end_time`` (exclusive,
        timezone-aware) keep only objects last modified between them.
        """
        bucket, key = split_path(path)
        prefix = as_dir_prefix(key)
        paginator = self.boto_client.get_paginator("list_objects_v2")
        with s3_errors("list", path):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    modified = item["LastModified"]
                    if item["Key"] == prefix:
                        continue
                    if start_time is not None and not start_time < modified:
                        continue
                    if end_time is not None and not modified < end_time:
                        continue
                    yield S3ObjectInfo(bucket, item["Key"], item["Size"], modified)

    @overload
    def listdir(
        self,
        path: str,
        start_time: datetime.datetime | None = ...,
        end_time: datetime.datetime | None = ...,
        return_key: Literal[False] = ...,
    ) -> Iterator[str]: ...

    @overload
    def listdir(
        self,
        path: str,
        start_time: datetime.datetime | None,
        end_time: datetime.datetime | None,
        return_key: Literal[True],
    ) -> Iterator[S3ObjectInfo]: ...

    @overload
    def listdir(
        self,
        path: str,
        start_time: datetime.datetime | None = ...,
        end_time: datetime.datetime | None = ...,
        *,
        return_key: Literal[True],
    ) -> Iterator[S3ObjectInfo]: ...

    def listdir(
        self,
        path: str,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
        return_key: bool = False,
    ) -> Iterator[str] | Iterator[S3ObjectInfo]:
        """Yield the full ``s3://`` paths of every object below ``path``, recursively.

        With ``return_key=True`` yield :class:`S3ObjectInfo` records instead. See
        :meth:`list_objects` for the time filters.
        """
        objects = self.list_objects(path, start_time, end_time)
        if return_key:
            return objects
        return (item.path for item in objects)

    # -- writes ---------------------------------------------------------------------------

    def put(self, local_path: str, destination_s3_path: str, **kwargs: Any) -> None:
        """Upload the local file ``local_path``; ``kwargs`` are S3 ``ExtraArgs``."""
        self.put_multipart(local_path, destination_s3_path, **kwargs)

    def put_string(self, content: str | bytes, destination_s3_path: str, **kwargs: Any) -> None:
        """Store ``content`` (``str`` is UTF-8 encoded); ``kwargs`` go to ``PutObject``."""
        bucket, key = split_path(destination_s3_path)
        body = content.encode("utf-8") if isinstance(content, str) else content
        with s3_errors("write", destination_s3_path):
            self.boto_client.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)

    def put_multipart(
        self,
        local_path: str,
        destination_s3_path: str,
        part_size: int = DEFAULT_PART_SIZE,
        **kwargs: Any,
    ) -> None:
        """Upload ``local_path``, in parts of ``part_size`` bytes when it is larger than that.

        The object becomes visible only when the upload completes; a failed multipart upload
        is aborted by boto3's transfer manager.
        """
        bucket, key = split_path(destination_s3_path)
        config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
        with s3_errors("upload to", destination_s3_path):
            self.boto_client.upload_file(local_path, bucket, key, ExtraArgs=kwargs, Config=config)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Create a directory marker object ``path/`` (S3 itself has no directories).

        Raises:
            FileAlreadyExists: ``raise_if_exists`` and the directory exists.
            MissingParentDirectory: ``parents`` is false and the parent is no directory.
        """
        if raise_if_exists and self.isdir(path):
            raise FileAlreadyExists(f"cannot create directory {path}: it already exists")
        bucket, key = split_path(path)
        if key in ("", "/"):
            return
        base = key.rstrip("/")
        parent = base.rpartition("/")[0]
        if not parents and not self.isdir(f"s3://{bucket}/{parent}"):
            raise MissingParentDirectory(
                f"cannot create directory {path}: its parent s3://{bucket}/{parent} does not "
                "exist; create it first or pass parents=True"
            )
        self.put_string(b"", f"s3://{bucket}/{base}/")

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> bool:  # type: ignore[override]
        """Delete the object or directory at ``path``.

        Returns ``True`` when something was deleted and ``False`` when nothing was there
        (Luigi's contract, hence the non-``None`` return).

        Raises:
            InvalidDeleteException: ``path`` is a bucket root, or a directory and not
                ``recursive``.
        """
        bucket, key = split_path(path)
        if key in ("", "/"):
            raise InvalidDeleteException(
                f"refusing to delete {path}: it is the root of bucket {bucket!r}"
            )
        if not key.endswith("/") and self._object_exists(bucket, key, path):
            with s3_errors("delete", path):
                self.boto_client.delete_object(Bucket=bucket, Key=key)
            return True
        base = key.rstrip("/")
        keys = [item.key for item in self.list_objects(path)]
        if self._object_exists(bucket, base + "/", path):
            keys.append(base + "/")
        if self._object_exists(bucket, base + _FOLDER_MARKER_SUFFIX, path):
            keys.append(base + _FOLDER_MARKER_SUFFIX)
        if not keys:
            return False
        if not recursive:
            raise InvalidDeleteException(
                f"refusing to delete {path}: it is a directory; pass recursive=True"
            )
        for start in range(0, len(keys), _DELETE_BATCH):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": k} for k in keys[start : start + _DELETE_BATCH]
            ]
            with s3_errors("delete", path):
                self.boto_client.delete_objects(Bucket=bucket, Delete={"Objects": batch})
        return True

    def copy(  # type: ignore[override]
        self,
        path: str,
        dest: str,
        threads: int = 16,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        *,
        raise_if_exists: bool = False,
        **kwargs: Any,
    ) -> tuple[int, int]:
        """Copy an object, or every object below a directory, server-side.

        Returns ``(number of objects, total bytes)`` as Luigi's S3 client does, which is why
        the return type differs from :meth:`FileSystem.copy`; the positional arguments are in
        Luigi's order too, so ``raise_if_exists`` is keyword-only. ``threads`` copies run at
        once, ``start_time``/``end_time`` filter the objects of a directory, and ``kwargs``
        are S3 ``ExtraArgs``.

        Raises:
            FileAlreadyExists: ``raise_if_exists`` and ``dest`` exists.
        """
        if raise_if_exists and self.exists(dest):
            raise FileAlreadyExists(f"cannot copy {path} to {dest}: {dest} already exists")
        src_bucket, src_key = split_path(path)
        dst_bucket, dst_key = split_path(dest)
        config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)

        def copy_one(source_key: str, target_key: str) -> None:
            with s3_errors("copy", f"s3://{src_bucket}/{source_key}"):
                self.boto_client.copy(
                    {"Bucket": src_bucket, "Key": source_key},
                    dst_bucket,
                    target_key,
                    ExtraArgs=kwargs,
                    Config=config,
                )

        if not src_key.endswith("/") and self._object_exists(src_bucket, src_key, path):
            copy_one(src_key, dst_key)
            return 1, self.info(path).size
        prefix, dst_prefix = as_dir_prefix(src_key), as_dir_prefix(dst_key)
        objects = [*self.list_objects(path, start_time, end_time)]
        if not objects and not self.isdir(path):
            raise FileNotFoundException(f"cannot copy {path}: no object or directory is there")
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(objects)))) as pool:
            jobs = [
                pool.submit(copy_one, item.key, dst_prefix + item.key[len(prefix) :])
                for item in objects
            ]
            for job in jobs:
                job.result()
        return len(objects), sum(item.size for item in objects)

    def move(self, path: str, dest: str, raise_if_exists: bool = False, **kwargs: Any) -> None:
        """Copy ``path`` to ``dest``, then delete ``path`` (S3 has no rename)."""
        self.copy(path, dest, raise_if_exists=raise_if_exists, **kwargs)
        self.remove(path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Move ``path`` to ``dest`` unless ``dest`` exists.

        S3 has no rename and its copy cannot be made conditional, so this checks and then
        copies; a concurrent writer of ``dest`` between the two steps is not detected.

        Raises:
            FileAlreadyExists: ``dest`` exists.
        """
        if self.exists(dest):
            raise FileAlreadyExists(f"cannot rename {path} to {dest}: {dest} already exists")
        self.move(path, dest)

    # -- reads ----------------------------------------------------------------------------

    def get(self, s3_path: str, destination_local_path: str) -> None:
        """Download the object at ``s3_path`` to a local file."""
        bucket, key = split_path(s3_path)
        with s3_errors("download", s3_path):
            self.boto_client.download_file(bucket, key, destination_local_path)

    def get_as_bytes(self, s3_path: str) -> bytes:
        """Return the content of the object at ``s3_path``."""
        with self.open_stream(s3_path) as stream:
            return stream.read()

    def get_as_string(self, s3_path: str, encoding: str = "utf-8") -> str:
        """Return the content of the object at ``s3_path`` decoded as text."""
        return self.get_as_bytes(s3_path).decode(encoding)

    def open_stream(self, s3_path: str) -> io.BufferedReader:
        """Start downloading the object at ``s3_path`` and return a buffered binary stream.

        Raises:
            FileNotFoundException: There is no object at ``s3_path``.
        """
        bucket, key = split_path(s3_path)
        with s3_errors("read", s3_path):
            body = self.boto_client.get_object(Bucket=bucket, Key=key)["Body"]
        return io.BufferedReader(_BodyReader(body, s3_path))

    def list(
        self,
        path: str,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
    ) -> Iterator[str]:
        """Yield the keys of every object below ``path``, relative to ``path``."""
        skip = len(as_dir_prefix(split_path(path)[1]))
        for item in self.list_objects(path, start_time, end_time):
            yield item.key[skip:]


class _BodyReader(io.RawIOBase):
    """A raw stream over a botocore ``StreamingBody``, so that ``io`` can buffer it."""

    def __init__(self, body: Any, path: str) -> None:
        super().__init__()
        self._body = body
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with s3_errors("read", self._path):
            data: bytes = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


_shared_clients: dict[str, S3Client] = {}
_shared_lock = threading.Lock()


def default_client() -> S3Client:
    """Return the process's shared :class:`S3Client` for the current AWS environment.

    Targets built without a client share this one, so thousands of existence checks reuse
    one connection pool. A forked child, or a change of the variables or the ``[s3]
    endpoint_url`` setting that select the identity or endpoint, gets a new client.
    """
    settings = [os.environ.get(name) for name in _CLIENT_ENV]
    # Hashed so that the registry never holds secrets in clear.
    fingerprint = hashlib.sha256(
        repr((os.getpid(), settings, _configured_endpoint())).encode()
    ).hexdigest()
    with _shared_lock:
        client = _shared_clients.get(fingerprint)
        if client is None:
            client = _shared_clients[fingerprint] = S3Client()
        return client
