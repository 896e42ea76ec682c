"""Every fault the server raises, by name, in the Cortex shape.

Code raises ``faults.instance_not_found(path=...)``; the API layer turns any ``Fault`` into the
body ``{object:'fault', name, code, errCode, status, message, reason, path, ...}`` with the
matching HTTP status. Legacy ``code`` values are sent explicitly, because the official client
switches on them (``kNotLoggedIn``, ``kSessionExpired``, ``kCSRFTokenMismatch``...).

A fault lists at most ``MAX_CHILD_FAULTS`` children: past that, one last child of the same
kind as the first one left out says how many more there were (a body of 740,000 unknown keys
answered 142 MB of faults before). Producers that can stop early (``model.problems``) pass the
number they only counted as ``omitted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_CHILD_FAULTS = 100


class Fault(Exception):
    """A Cortex fault: raised anywhere, rendered once by the API layer."""

    def __init__(
        self,
        kind: FaultKind,
        *,
        reason: str | None = None,
        path: str | None = None,
        resource: str | None = None,
        message: str | None = None,
        faults: list[Fault] | None = None,
        index: int | None = None,
        omitted: int = 0,
        omitted_kind: FaultKind | None = None,
    ) -> None:
        self.kind = kind
        self.reason = reason
        self.path = path
        self.resource = resource
        self.message = message or kind.message
        children = faults or []
        self.faults = children[:MAX_CHILD_FAULTS]
        # Children left out: counted by the producer (``omitted``), or cut here.
        self.omitted = omitted + len(children) - len(self.faults)
        self.omitted_kind = children[MAX_CHILD_FAULTS].kind if len(children) > MAX_CHILD_FAULTS else omitted_kind
        self.index = index
        super().__init__(f"{kind.err_code}: {reason or self.message}" + (f" ({path})" if path else ""))

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def err_code(self) -> str:
        return self.kind.err_code

    @property
    def code(self) -> str:
        return self.kind.code

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": "fault",
            "name": self.kind.name,
            "code": self.kind.code,
            "errCode": self.kind.err_code,
            "status": self.kind.status,
            "message": self.message,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        if self.path is not None:
            body["path"] = self.path
        if self.resource is not None:
            body["resource"] = self.resource
        if self.index is not None:
            body["index"] = self.index
        if self.faults or self.omitted:
            body["faults"] = [child.to_json() for child in self.faults]
            if self.omitted:
                body["faults"].append(self._omitted_json())
        return body

    def _omitted_json(self) -> dict[str, Any]:
        """The last child when some were left out: of the kind of the first one left out."""
        kind = self.omitted_kind or self.kind
        return Fault(
            kind,
            reason=f"And {self.omitted} more, not listed: a fault lists at most {MAX_CHILD_FAULTS}.",
        ).to_json()


@dataclass(frozen=True)
class FaultKind:
    """One named fault: calling it makes a ``Fault`` ready to raise."""

    code: str
    err_code: str
    status: int
    message: str
    name: str = "error"

    def __call__(self, reason: str | None = None, **details: Any) -> Fault:
        return Fault(self, reason=reason, **details)


# Requests and routing
invalid_argument = FaultKind("kInvalidArgument", "cortex.invalidArgument.unspecified", 400, "Invalid Argument")
invalid_json = FaultKind("kInvalidArgument", "cortex.invalidArgument.invalidJSON", 400, "Invalid JSON.")
request_too_large = FaultKind("kRequestTooLarge", "cortex.tooLarge.request", 413, "Request body too large.")
route_not_found = FaultKind("kNotFound", "cortex.notFound.route", 404, "Route not found.")
method_not_allowed = FaultKind(
    "kUnsupportedOperation", "cortex.unsupportedOperation.method", 405, "Method not supported on this route."
)
org_not_found = FaultKind("kNotFound", "cortex.notFound.org", 404, "Organization not found.")
server_error = FaultKind("kError", "cortex.error.unspecified", 500, "An unexpected error occurred.")
# The database stayed locked by other writers past its busy timeout (SQLite), or PostgreSQL gave
# up on a lock (deadlock, lock timeout): nothing was written and the same request may simply be
# sent again. Cortex's "tooBusy" family; the API adds Retry-After.
database_busy = FaultKind(
    "kTooBusy", "cortex.tooBusy.database", 503, "The server is busy writing other data; try again shortly."
)

# Apps and keys
app_not_found = FaultKind("kNotFound", "cortex.notFound.app", 404, "Invalid application client api key.")
app_disabled = FaultKind("kAccessDenied", "cortex.accessDenied.appDisabled", 403, "Application is disabled.")
app_denied = FaultKind("kAccessDenied", "cortex.accessDenied.app", 403, "Application access denied.")

# Principals and sessions
not_logged_in = FaultKind("kNotLoggedIn", "cortex.accessDenied.notLoggedIn", 403, "You are not logged in.")
session_expired = FaultKind("kSessionExpired", "cortex.accessDenied.sessionExpired", 403, "Session has expired.")
csrf_mismatch = FaultKind(
    "kCSRFTokenMismatch", "cortex.accessDenied.csrfTokenMismatch", 403, "CSRF token mismatch."
)
logged_in_elsewhere = FaultKind(
    "kLoggedInElsewhere", "cortex.accessDenied.loggedInElsewhere", 403, "Logged in elsewhere."
)
session_org_mismatch = FaultKind(
    "kAccessDenied", "cortex.accessDenied.sessionOrgMismatch", 403, "Session belongs to another organization."
)
invalid_credentials = FaultKind(
    "kInvalidCredentials", "cortex.accessDenied.invalidCredentials", 403, "Invalid email/password combination."
)
account_locked = FaultKind(
    "kAccountLocked", "cortex.accessDenied.accountLocked", 403, "Account access has been disabled."
)
# Too many password checks waiting at once (settings.login_concurrency): Cortex's "throttled"
# family, which the official client maps to kThrottled. Nothing was counted against the account.
login_throttled = FaultKind(
    "kThrottled", "cortex.throttled.login", 429, "Too many logins are being checked at once; try again shortly."
)
invalid_signature = FaultKind(
    "kInvalidRequestSignature", "cortex.accessDenied.invalidRequestSignature", 400, "Invalid request signature."
)
stale_signature = FaultKind(
    "kStaleRequestSignature", "cortex.invalidArgument.staleRequestSignature", 400, "Stale request signature."
)
principal_denied = FaultKind(
    "kAccessDenied", "cortex.accessDenied.principal", 403, "This principal may not be used here."
)
invalid_token = FaultKind("kInvalidToken", "cortex.accessDenied.invalidToken", 403, "Invalid authentication token.")
token_expired = FaultKind("kTokenExpired", "cortex.expired.token", 403, "Authentication token has expired.")
access_denied = FaultKind("kAccessDenied", "cortex.accessDenied.unspecified", 403, "Access denied.")

# Instances and validation
instance_not_found = FaultKind("kNotFound", "cortex.notFound.instance", 404, "Instance not found.", name="db")
already_exists = FaultKind("kExists", "cortex.conflict.exists", 409, "A matching instance already exists.")
validation_failed = FaultKind(
    "kValidationError", "cortex.invalidArgument.validation", 400, "Validation error.", name="validation"
)
required = FaultKind("kRequired", "cortex.invalidArgument.required", 400, "Required property.", name="validation")
invalid_value = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.castError", 400,
    "Type conversion failure to expected property type.", name="validation",
)

# Files
file_key_invalid = FaultKind("kInvalidArgument", "cortex.invalidArgument.fileKey", 400, "Invalid file key.")
file_range_invalid = FaultKind("kInvalidArgument", "cortex.invalidArgument.range", 400, "Invalid byte range.")
file_not_found = FaultKind("kNotFound", "cortex.notFound.file", 404, "File not found.")
# Stored ciphertext that fails authentication (tampered, truncated, or copied from another key) is
# server-side damage, not a client mistake: kError/500, named so operators can alert on it.
file_corrupt = FaultKind(
    "kError", "cortex.error.fileIntegrity", 500, "Stored file failed its integrity check."
)
files_keyset_unreadable = FaultKind(
    "kError", "cortex.error.filesKeyset", 500,
    "The file encryption keyset cannot be opened with the configured master key.",
)
# The configured object storage (OPENCORTEX_STORAGE_URL) cannot be used: raised when a process
# opens it, so a wrong bucket or endpoint stops the start with one line, not the first upload.
storage_unavailable = FaultKind(
    "kError", "cortex.error.storageUnavailable", 503, "The file storage cannot be reached.",
)

# Object definitions and properties
# A bad definition is one validation_failed fault; each bad option is an invalid_definition child
# whose path names the option (``properties[2].min``). Cortex reports these as ...unspecified.
invalid_definition = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.unspecified", 400, "Invalid Argument", name="validation"
)
object_not_found = FaultKind("kInvalidObject", "cortex.invalidArgument.object", 400, "Invalid or unknown object.")
source_object_not_found = FaultKind(
    "kNotFound", "cortex.notFound.sourceObject", 404, "Source object not found.", name="validation"
)
property_not_found = FaultKind("kNotFound", "cortex.notFound.property", 404, "Property not found.", name="db")
property_update_denied = FaultKind(
    "kAccessDenied", "cortex.accessDenied.propertyUpdate", 403, "Property update access denied.", name="validation"
)
creatable_only = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.creatableOnly", 400,
    "Property can only be set when the instance is created.", name="validation",
)
write_once = FaultKind(
    "kAccessDenied", "cortex.accessDenied.writeOnce", 403, "Value can only be set once.", name="validation"
)
invalid_string = FaultKind(
    "kInvalidString", "cortex.invalidArgument.invalidString", 400, "Invalid string.", name="validation"
)
string_pattern = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.string", 400, "String does not match the pattern.", name="validation"
)
email_format = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.emailFormat", 400, "Invalid email address.", name="validation"
)
invalid_url = FaultKind("kInvalidArgument", "cortex.invalidArgument.url", 400, "Invalid URL.", name="validation")
enum_value = FaultKind(
    "kEnumValue", "cortex.invalidArgument.enumValue", 400, "Value not found in list.", name="validation"
)
number_expected = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.numberExpected", 400, "Number out of range.", name="validation"
)
invalid_date = FaultKind("kInvalidArgument", "cortex.invalidArgument.date", 400, "Invalid date.", name="validation")
date_of_birth = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.dateOfBirth", 400, "Invalid date of birth.", name="validation"
)
time_zone = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.timeZone", 400, "Invalid time zone.", name="validation"
)
custom_name = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.customName", 400, "Invalid custom name.", name="validation"
)
dot_path = FaultKind("kInvalidArgument", "cortex.invalidArgument.dotPath", 400, "Invalid dot path.", name="validation")
ip_address = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.iPv4AddrOrCidr", 400, "Invalid IPv4 address or CIDR range.",
    name="validation",
)
allow_level = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.allowLevel", 400, "Invalid access level.", name="validation"
)
invalid_coordinate = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.invalidCoordinate", 400,
    "Must be a valid 2 element coordinate array.", name="validation",
)
too_large = FaultKind("kInvalidArgument", "cortex.invalidArgument.tooLarge", 400, "Value too large.", name="validation")
min_items = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.minItems", 400, "Too few array items.", name="validation"
)
max_allowed = FaultKind(
    "kMaxAllowed", "cortex.invalidArgument.maxAllowed", 400, "Too many array items.", name="validation"
)
unique_in_array = FaultKind(
    "kExists", "cortex.conflict.uniqueInArray", 409, "Array values must be unique.", name="validation"
)

# Queries
query_invalid = FaultKind("kInvalidArgument", "cortex.invalidArgument.query", 400, "Invalid query.")
query_exact_matching = FaultKind(
    "kUnsupportedOperation", "cortex.unsupportedOperation.exactMatching", 400,
    "Exact matching of arrays and documents is not supported.",
)

# Instances and access control
sequence_conflict = FaultKind(
    "kExists", "cortex.conflict.sequencing", 409, "The instance changed while it was being updated; try again."
)
create_denied = FaultKind("kAccessDenied", "cortex.accessDenied.instanceCreate", 403, "Instance create access denied.")
instance_access_denied = FaultKind("kAccessDenied", "cortex.accessDenied.instance", 403, "Instance access denied.")

# Uploads, facets and storage
# kMediaNotReady is one of Cortex's two 2xx faults: the facet exists but its bytes are not there yet.
media_not_ready = FaultKind(
    "kMediaNotReady", "cortex.accepted.mediaNotReady", 202, "The file is not ready yet; try again later."
)
facet_not_found = FaultKind("kNotFound", "cortex.notFound.facet", 404, "Facet not found.")
# A facet in state 3: its upload failed. Not a server bug, so not 500: the file must be written again.
facet_failed = FaultKind(
    "kError", "cortex.error.facet", 409, "The file's upload failed; write the property again to upload it."
)
not_a_file = FaultKind("kInvalidArgument", "cortex.invalidArgument.notAFile", 400, "Not a File property.")
file_exists = FaultKind(
    "kExists", "cortex.conflict.fileExists", 409, "The property already holds a file; PUT replaces it."
)
upload_invalid = FaultKind("kInvalidArgument", "cortex.invalidArgument.upload", 400, "Invalid upload.")
upload_not_found = FaultKind("kNotFound", "cortex.notFound.upload", 404, "Unknown upload target.")
upload_expired = FaultKind("kExpired", "cortex.expired.upload", 410, "The upload target has expired.")
upload_used = FaultKind("kExists", "cortex.conflict.uploadUsed", 409, "The upload target has already been used.")
upload_too_large = FaultKind("kRequestTooLarge", "cortex.tooLarge.upload", 413, "The file is too large.")
mime_mismatch = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.mimeMismatch", 400,
    "The file's content type does not match its filename.",
)
storage_limit_exceeded = FaultKind(
    "kRequestTooLarge", "cortex.tooLarge.storageLimit", 413, "The org's storage limit would be exceeded."
)
# The server's own storage ran out (ENOSPC, a disk quota, a full database file): not the org's
# limit (storage_limit_exceeded) and not a bug, so 507 Insufficient Storage rather than 500. Its
# message never names a path; the operator's log has the OS error.
storage_full = FaultKind(
    "kError", "cortex.error.storageFull", 507, "The server's storage is full; nothing was stored."
)
range_not_satisfiable = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.rangeNotSatisfiable", 416, "Requested range not satisfiable."
)
signed_url_invalid = FaultKind(
    "kAccessDenied", "cortex.accessDenied.signedUrl", 403, "Invalid file link."
)
signed_url_expired = FaultKind("kExpired", "cortex.expired.signedUrl", 403, "The file link has expired.")

# Exports
max_script_length = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.maxScriptLength", 400, "Script is too long."
)
export_aborted = FaultKind("kError", "cortex.error.aborted", 500, "The export was cancelled.")
export_failed = FaultKind("kError", "cortex.error.unspecified", 500, "The export failed.")
export_not_ready = FaultKind(
    "kMediaNotReady", "cortex.accepted.mediaNotReady", 202, "The export is not ready yet.", name="fault"
)
# A download of an export that ended in error (failed or cancelled): it never gets an archive, so
# a poller must stop, not wait (202). Like a failed facet (facet_failed): the resource's state,
# not the request, is the problem. The export's own fault is its child.
export_failed_no_archive = FaultKind(
    "kError", "cortex.error.exportFailed", 409,
    "The export ended in error and has no archive; create a new export.", name="fault",
)
# Past its expiresAt the archive is gone, even before the reaper deletes the record.
export_expired = FaultKind("kExpired", "cortex.expired.export", 410, "The export has expired; its archive is deleted.")

# Logs and scripts
# A failed script run as a fault: it is the ``err`` of the run's Logs record and of the export's
# ``afterScript.completed`` event; ``reason`` is the script's own error. One kind per sandbox error
# name (scripting.model.ERROR_NAMES); a source over the size limit is ``max_script_length`` above.
script_timeout = FaultKind(
    "kTimeout", "cortex.timeout.script", 408, "The script ran longer than its time limit."
)
script_memory = FaultKind(
    "kError", "cortex.error.scriptMemory", 500, "The script used more memory than its limit."
)
script_stack_overflow = FaultKind(
    "kError", "cortex.error.scriptStackOverflow", 500, "The script exceeded the call stack limit."
)
script_compile = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.scriptCompile", 400, "The script could not be compiled."
)
script_import = FaultKind(
    "kInvalidArgument", "cortex.invalidArgument.scriptImport", 400,
    "The script imports a module that is not available.",
)
script_runtime = FaultKind("kError", "cortex.error.script", 500, "The script threw an error.")
script_crashed = FaultKind(
    "kError", "cortex.error.scriptCrashed", 500, "The script runtime stopped unexpectedly."
)
