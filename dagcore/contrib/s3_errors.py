"""Errors of the S3 integration, and the translation of botocore failures into them.

Every failure is an :class:`S3Error` (a :class:`~dagcore.errors.FileSystemException`) whose
message names the ``s3://`` path and says what to check, instead of a botocore traceback.
Also here: parsing of ``s3://bucket/key`` paths, which is where a bad path is first noticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagcore.errors import FileSystemException

try:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import (
        ClientError,
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("dagcore.contrib.s3 needs boto3: pip install 'dagcore[s3]'") from exc

__all__ = [
    "FileNotFoundException",
    "InvalidDeleteException",
    "S3AccessDenied",
    "S3BucketNotFound",
    "S3ConnectionError",
    "S3CredentialsError",
    "S3Error",
    "S3PathError",
    "as_dir_prefix",
    "s3_errors",
    "split_path",
]

_SCHEMES = ("s3://", "s3a://", "s3n://")

CREDENTIAL_HINT = (
    "boto3 looks for credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, in a profile "
    "(AWS_PROFILE, ~/.aws/credentials), in web identity (AWS_ROLE_ARN with "
    "AWS_WEB_IDENTITY_TOKEN_FILE) and in an instance or container role; set one of them up. "
    "dagcore never takes credentials as code arguments."
)
_ENDPOINT_HINT = (
    "check the endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or [s3] endpoint_url) and that "
    "the server is reachable"
)


class S3Error(FileSystemException):
    """An S3 operation failed; the message names the path."""


class S3CredentialsError(S3Error):
    """boto3 found no usable credentials, or credentials were passed in code."""


class S3AccessDenied(S3Error):
    """The credentials boto3 found are not allowed to do the operation."""


class S3BucketNotFound(S3Error):
    """The bucket named in the path does not exist."""


class S3ConnectionError(S3Error):
    """The S3 endpoint could not be reached."""


class S3PathError(S3Error, ValueError):
    """A path is not a valid ``s3://bucket/key`` path for the operation."""


class FileNotFoundException(S3Error, FileNotFoundError):
    """No object exists at the path (Luigi's name; also a ``FileNotFoundError``)."""


class InvalidDeleteException(S3Error):
    """A delete that is not allowed: a bucket root, or a directory without ``recursive``."""


def split_path(path: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``("bucket", "key")``; the key may be empty.

    Raises:
        S3PathError: The path has no ``s3://`` (or ``s3a://``, ``s3n://``) scheme or no bucket.
    """
    scheme = next((s for s in _SCHEMES if path.startswith(s)), None)
    if scheme is None:
        raise S3PathError(f"{path!r} is not an S3 path; write it as s3://bucket/key")
    bucket, _, key = path[len(scheme) :].partition("/")
    if not bucket:
        raise S3PathError(f"{path!r} names no bucket; write it as s3://bucket/key")
    return bucket, key


def as_dir_prefix(key: str) -> str:
    """Return ``key`` as a directory prefix: ending with ``/``, or empty for a bucket root."""
    return key if key == "" or key.endswith("/") else key + "/"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate_client_error(exc: ClientError, action: str, path: str) -> S3Error:
    code = _error_code(exc)
    detail = exc.response.get("Error", {}).get("Message", "") or code
    if code == "NoSuchBucket":
        bucket = split_path(path)[0]
        return S3BucketNotFound(
            f"cannot {action} {path}: bucket {bucket!r} does not exist; create it or fix the path"
        )
    if code in ("NoSuchKey", "404", "NotFound"):
        return FileNotFoundException(f"cannot {action} {path}: no object exists at that path")
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return S3AccessDenied(
            f"cannot {action} {path}: access denied ({detail}); check that the credentials "
            "boto3 found are the intended ones and that their policy allows this"
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidToken"):
        return S3CredentialsError(f"cannot {action} {path}: {detail}. {CREDENTIAL_HINT}")
    return S3Error(f"cannot {action} {path}: {code}: {detail}")


@contextmanager
def s3_errors(action: str, path: str) -> Iterator[None]:
    """Turn botocore exceptions into :class:`S3Error` subclasses that name ``path``."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
        # The botocore traceback adds nothing the message does not say.
        raise S3CredentialsError(f"cannot {action} {path}: {exc}. {CREDENTIAL_HINT}") from None
    except EndpointConnectionError as exc:
        raise S3ConnectionError(f"cannot {action} {path}: {exc}; {_ENDPOINT_HINT}") from None
    except ClientError as exc:
        raise _translate_client_error(exc, action, path) from exc
    except S3UploadFailedError as exc:
        # The transfer manager wraps the ClientError that says what actually went wrong.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError):
            raise _translate_client_error(cause, action, path) from exc
        raise S3Error(f"cannot {action} {path}: {exc}") from exc
