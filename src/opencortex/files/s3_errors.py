"""What S3-compatible servers answer, sorted into what the S3 backend does about it.

The codes are the ``Error/Code`` of an S3 error response; botocore names an error without a body
(a HEAD request's) by its HTTP status instead, so both spellings are listed.
"""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from opencortex import faults

# No such object (GET: NoSuchKey; HEAD: a bare 404).
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
NO_BUCKET = frozenset({"NoSuchBucket"})
DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
# The multipart upload was completed or aborted (by a folder delete, a sweep, a lifecycle rule).
NO_UPLOAD = frozenset({"NoSuchUpload", "404"})
# What S3-compatible servers answer when their disks or a quota are full (AWS itself has no such
# answer): MinIO, Ceph RGW, and the HTTP status name some proxies use.
FULL = frozenset({"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded", "InsufficientStorage"})
# Another writer got there first (a conditional PUT), as AWS, MinIO and Ceph word it.
TAKEN = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
# The server does not know conditional writes (older MinIO and Ceph releases).
UNSUPPORTED = frozenset({"NotImplemented", "501"})
# The range starts at or past the end of the object.
BAD_RANGE = frozenset({"InvalidRange", "416"})

log = logging.getLogger("opencortex.files")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def storage_full(key: str, error: ClientError) -> faults.Fault:
    """As the local store's: no key or bucket in the fault; the operator's log has them."""
    log.error("storage full while writing %r: %s", key, error_code(error))
    return faults.storage_full()
