"""Amazon S3 (and S3-compatible stores) as targets, through boto3.

:class:`S3Target` reads an object as a stream and writes it atomically: the object appears only
once its upload has completed. :class:`S3FlagTarget` is a directory that is complete when its
flag object (``_SUCCESS``) exists. Both work on :class:`S3Client`, a
:class:`~dagcore.target.FileSystem` with Luigi's method names (``exists``, ``remove``, ``put``,
``put_string``, ``put_multipart``, ``get``, ``get_as_string``, ``copy``, ``move``, ``listdir``,
``list``, ``isdir``, ``mkdir``), re-exported here with the :class:`S3Error` family so that
``from dagcore.contrib.s3 import ...`` mirrors ``luigi.contrib.s3``.

Credentials are never taken as arguments: boto3 finds them itself (environment variables, a
profile, web identity, an instance or container role). The endpoint of an S3-compatible store
comes from ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` or the ``[s3] endpoint_url`` key.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Any

from dagcore.contrib.s3_client import S3Client, S3ObjectInfo, default_client
from dagcore.contrib.s3_errors import (
    FileNotFoundException,
    InvalidDeleteException,
    S3AccessDenied,
    S3BucketNotFound,
    S3ConnectionError,
    S3CredentialsError,
    S3Error,
    S3PathError,
    split_path,
)
from dagcore.format import Format, as_stream, get_default_format
from dagcore.target import AtomicLocalFile, FileSystemTarget, InvalidTargetArgument

__all__ = [
    "AtomicS3File",
    "FileNotFoundException",
    "InvalidDeleteException",
    "S3AccessDenied",
    "S3BucketNotFound",
    "S3Client",
    "S3ConnectionError",
    "S3CredentialsError",
    "S3Error",
    "S3FlagTarget",
    "S3ObjectInfo",
    "S3PathError",
    "S3Target",
    "default_client",
]


class AtomicS3File(AtomicLocalFile):
    """A local temporary file uploaded to S3 when closed without an error.

    Args:
        path: The destination ``s3://`` path.
        s3_client: The client to upload with.
        **s3_options: S3 ``ExtraArgs`` for the upload (``ContentType``, ``ServerSideEncryption``).
    """

    def __init__(self, path: str, s3_client: S3Client, **s3_options: Any) -> None:
        self.s3_client = s3_client
        self.s3_options = s3_options
        super().__init__(path)

    def generate_tmp_path(self, path: str) -> str:
        # The destination is remote, so the data waits in the local temporary directory.
        return os.path.join(tempfile.gettempdir(), f"dagcore-s3-{os.urandom(8).hex()}")

    def move_to_final_destination(self) -> None:
        self.s3_client.put_multipart(self.tmp_path, self.path, **self.s3_options)


class S3Target(FileSystemTarget):
    """An object in S3, read as a stream and written atomically.

    Writing goes to a local temporary file that is uploaded when the stream is closed without
    an error; until then nothing is visible at ``path``, and an exception in the ``with`` block
    uploads nothing.

    Args:
        path: ``s3://bucket/key``.
        format: How bytes become what ``open()`` returns (default: text).
        client: The :class:`S3Client`; by default the shared :func:`default_client`.
        **s3_options: S3 ``ExtraArgs`` used when writing (``ContentType`` and the like).
    """

    def __init__(
        self,
        path: str,
        format: Format | None = None,
        client: S3Client | None = None,
        **s3_options: Any,
    ) -> None:
        split_path(path)  # fail on a malformed path now, not at the first exists()
        super().__init__(path)
        self.format = format if format is not None else get_default_format()
        self._client = client
        self.s3_options = s3_options

    @property
    def fs(self) -> S3Client:
        """The client this target's path is accessed with."""
        return self._client if self._client is not None else default_client()

    @property
    def uri(self) -> str:
        """``s3://bucket/key``, whatever S3 scheme the path was written with."""
        bucket, key = split_path(self.path)
        return f"s3://{bucket}/{key}"

    def open(self, mode: str = "r") -> IO[Any]:
        """Open for reading (``"r"``) or writing (``"w"``) through the target's format.

        Raises:
            FileNotFoundException: Reading, and there is no object at the path.
            InvalidTargetArgument: Any other mode.
        """
        rw_mode = mode.replace("b", "").replace("t", "")
        if rw_mode == "r":
            stream: Any = self.format.pipe_reader(self.fs.open_stream(self.path))
        elif rw_mode == "w":
            stream = self.format.pipe_writer(AtomicS3File(self.path, self.fs, **self.s3_options))
        else:
            raise InvalidTargetArgument(
                f"cannot open {self.path} with mode {mode!r}: use 'r' to read or 'w' to write"
            )
        return as_stream(stream)


class S3FlagTarget(S3Target):
    """A directory in S3 that is complete when its flag object exists.

    Tools that write many files into a directory (Spark, Hadoop) create ``_SUCCESS`` last;
    checking for it avoids treating a half-written directory as done.

    Args:
        path: ``s3://bucket/dir/`` -- it must end with ``/``.
        format: Passed on to :class:`S3Target`.
        client: Passed on to :class:`S3Target`.
        flag: The name of the object that marks completion.

    Raises:
        S3PathError: ``path`` does not end with ``/``.
    """

    def __init__(
        self,
        path: str,
        format: Format | None = None,
        client: S3Client | None = None,
        flag: str = "_SUCCESS",
    ) -> None:
        if not path.endswith("/"):
            raise S3PathError(
                f"S3FlagTarget path {path!r} must be a directory ending with '/', "
                f"e.g. {path + '/'!r}"
            )
        super().__init__(path, format=format, client=client)
        self.flag = flag

    def exists(self) -> bool:
        """Return whether the flag object exists in the directory."""
        return self.fs.exists(self.path + self.flag)
