"""Reading one S3 object: a GET (ranged or not) streamed in chunks, resumed where it broke.

A connection that drops mid-body is resumed with a ranged GET from the first byte not yet
delivered, ``If-Match`` the object's ETag, so that bytes of an object replaced meanwhile are never
mixed in (that GET fails instead). ``RESUMES`` breaks in a row without progress end the read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError, IncompleteReadError, ReadTimeoutError, ResponseStreamingError

from opencortex.files import s3_errors
from opencortex.files.s3_errors import error_code, log

READ_CHUNK_BYTES = 256 * 1024
RESUMES = 3
# The connection broke while the body streamed (botocore's wrappers of urllib3's errors).
_BROKEN_STREAM = (ResponseStreamingError, ReadTimeoutError, IncompleteReadError)


def get_object(client: Any, bucket: str, object_key: str, start: int, end: int | None,
               etag: str | None = None) -> Any:
    """One GET of ``start..end`` (inclusive; ``end=None``: to the end)."""
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": object_key}
    if start or end is not None:
        arguments["Range"] = f"bytes={start}-{'' if end is None else end}"
    if etag:
        arguments["IfMatch"] = etag
    return client.get_object(**arguments)


class ResumingStream:
    """The chunks of one GET whose response is ``response``; ``close()`` releases its connection."""

    def __init__(self, client: Any, bucket: str, object_key: str, start: int, end: int | None,
                 response: Any) -> None:
        self._client = client
        self._bucket = bucket
        self._object_key = object_key
        self._position = start  # the next byte to deliver
        self._end = end
        self._body = response["Body"]
        self._etag = response.get("ETag")

    def chunks(self) -> Iterator[bytes]:
        resumes = 0
        while True:
            try:
                for chunk in self._body.iter_chunks(READ_CHUNK_BYTES):
                    if not chunk:
                        continue  # no progress: it must not reset the count of resumes
                    self._position += len(chunk)
                    resumes = 0
                    yield chunk
                return
            except _BROKEN_STREAM as error:
                if resumes == RESUMES:
                    raise
                resumes += 1
                log.warning("reading %r broke at byte %d (%s); resuming", self._object_key, self._position, error)
                self._body.close()
                if self._end is not None and self._position > self._end:
                    return
                try:
                    response = get_object(self._client, self._bucket, self._object_key, self._position, self._end,
                                          self._etag)
                except ClientError as retry_error:
                    if error_code(retry_error) in s3_errors.BAD_RANGE:
                        return  # it broke after the last byte
                    raise
                self._body = response["Body"]

    def close(self) -> None:
        self._body.close()
