"""One settings object, read once from ``OPENCORTEX_*`` variables (CLI flags override them).

Defaults serve the embedded mode: data folder ``./var`` with the SQLite database in it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file in data_dir
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10 * 1024 * 1024
    master_key: str = field(default="", repr=False)  # base64; empty: data_dir/master.key
    auth_duration_seconds: int = 900  # session inactivity timeout when the app sets none
    signature_window_seconds: int = 15 * 60
    login_lock_threshold: int = 5  # failed logins before the account locks
    login_lock_base_seconds: int = 60  # first lock; doubles with each further failure
    login_lock_max_seconds: int = 3600
    # Password checks (argon2, ~64 MiB and ~0.1-0.3 s each) that run at once in one process, and
    # how long a login waits for its turn before it is answered 429 (kThrottled).
    login_concurrency: int = 4
    login_wait_seconds: int = 5
    token_default_expiry_seconds: int = 3600
    # Files (docs/files.md): the largest upload, how long an upload target and a signed download
    # link live, and the storage limit of an org without its own ``settings.storageLimitBytes``.
    max_upload_bytes: int = 100 * 1024 * 1024
    upload_target_seconds: int = 3600
    signed_url_seconds: int = 300
    storage_limit_bytes: int = 10 * 1024 * 1024 * 1024
    # Wall-clock limit of one script run (an export's afterScript); Cortex's job timeout is 10 s.
    script_timeout_seconds: int = 10
    # Export workers of ``serve`` and ``worker`` (docs/cli.md): jobs run at once in one process,
    # and how long a claimed job's lease lasts without renewal before another worker may rerun it.
    export_concurrency: int = 2
    export_lease_seconds: int = 30
    # Processes that read one large export at once, each a shard of its ``_id`` range
    # (exports/sharding.py); 1 reads every export in the worker's own process.
    export_processes: int = field(default_factory=lambda: os.cpu_count() or 1)
    # How long the record of a deleted instance is kept for incremental exports (``since``); never
    # shorter than what an existing export still needs (exports/tombstones.py).
    tombstone_days: int = 30
    # How long ``serve`` lets requests in flight (a slow download) finish after SIGTERM/SIGINT
    # before it closes their connections and exits (clients resume downloads with Range).
    shutdown_grace_seconds: int = 10
    # The absolute URL clients reach this server at (``https://cortex.example.org``, a path prefix
    # allowed): signed download links and upload URLs are built on it, never on the request's
    # ``Host`` header, which the client chooses. Empty: ``http://<host>:<port>``.
    public_url: str = ""
    # Server and worker logs (``logging_setup``): ``text`` lines for people, or ``json`` lines.
    log_format: str = "text"
    log_level: str = "INFO"
    # Where files and export archives are stored (docs/files.md, "Storage"): empty for the folder
    # ``<data_dir>/files``, or ``s3://bucket[/prefix]`` for S3-compatible object storage, with the
    # endpoint (empty: AWS), region and credentials (empty: boto3's own chain: AWS_* variables,
    # instance or pod roles). Uploads go in multipart parts of ``s3_part_size`` bytes.
    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = field(default="", repr=False)
    s3_part_size: int = 8 * 1024 * 1024  # S3_DEFAULT_PART_SIZE, below

    def __post_init__(self) -> None:
        if self.tombstone_days < 1:
            raise ValueError(f"OPENCORTEX_TOMBSTONE_DAYS must be at least 1, got {self.tombstone_days}")
        if self.export_processes < 1:
            raise ValueError(f"OPENCORTEX_EXPORT_PROCESSES must be at least 1, got {self.export_processes}")
        if self.public_url:
            check_public_url(self.public_url)
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"OPENCORTEX_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(f"OPENCORTEX_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        check_storage_settings(self)

    @property
    def public_base_url(self) -> str:
        """Where absolute links point: ``public_url`` without a trailing slash, or the serve address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'opencortex.db').resolve()}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``OPENCORTEX_<FIELD>`` variables; keyword overrides (CLI flags) win when not None."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = environ.get(f"OPENCORTEX_{spec.name.upper()}")
            if raw is not None and raw != "":
                values[spec.name] = _cast(spec.type, raw, spec.name)
        values.update({key: value for key, value in overrides.items() if value is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_public_url(url: str) -> None:
    """``OPENCORTEX_PUBLIC_URL``: an absolute http(s) URL with a host, perhaps a path; no query,
    fragment or credentials (links are built by appending ``/{org}/v2/...`` to it)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as error:
        raise ValueError(f"OPENCORTEX_PUBLIC_URL is not a URL ({error})") from None
    problem = (
        "its scheme must be http or https" if parts.scheme not in ("http", "https")
        else "it names no host" if not parts.hostname
        else "it may not hold a user name or password" if parts.username is not None or parts.password is not None
        else "it may not have a query (?...)" if parts.query or url.rstrip("/").endswith("?")
        else "it may not have a fragment (#...)" if parts.fragment or "#" in url
        else "it may not contain spaces" if any(character.isspace() for character in url)
        else None
    )
    if problem:
        shown = "" if "password" in problem else f"; got {url!r}"  # never repeat a credential
        raise ValueError(f"OPENCORTEX_PUBLIC_URL must be an absolute http(s) URL: {problem}{shown}")


@dataclass(frozen=True)
class S3Location:
    """Where an ``s3://bucket/prefix`` storage URL points: a bucket, and a key prefix ("" or ending in "/")."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


S3_DEFAULT_PART_SIZE = 8 * 1024 * 1024
S3_MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (but the last)
S3_MAX_PART_SIZE = 5 * 1024 * 1024 * 1024  # and its largest
# AWS's bucket naming rules (MinIO and Ceph follow them): 3-63 lowercase letters, digits, dots
# and hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Prefix segments follow the file store's key rules (``files/store.py``), so the bucket's keys do too.
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def parse_storage_url(url: str) -> S3Location:
    """``OPENCORTEX_STORAGE_URL``: ``s3://bucket`` or ``s3://bucket/some/prefix`` (a trailing ``/`` is optional)."""
    if not url.startswith("s3://"):
        shown = url.split("://", 1)[0] + "://..." if "://" in url else repr(url)
        raise ValueError(f"OPENCORTEX_STORAGE_URL must be empty (the data folder) or s3://bucket[/prefix]; got {shown}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"OPENCORTEX_STORAGE_URL: {bucket!r} is not a bucket name (3-63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit)"
        )
    segments = prefix.strip("/").split("/") if prefix.strip("/") else []
    if any(not _PREFIX_SEGMENT.fullmatch(segment) for segment in segments) or len(prefix) > 200:
        raise ValueError(
            f"OPENCORTEX_STORAGE_URL: the prefix {prefix!r} must be folder names of letters, digits and '._-' "
            "(each starting with a letter, digit or '_') joined by '/', at most 200 characters"
        )
    return S3Location(bucket, "".join(f"{segment}/" for segment in segments))


def check_storage_settings(settings: Settings) -> None:
    """The storage URL parses, and no S3 setting is given without it (it would be ignored)."""
    s3_settings = {
        "OPENCORTEX_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "OPENCORTEX_S3_REGION": settings.s3_region,
        "OPENCORTEX_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "OPENCORTEX_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key,
        "OPENCORTEX_S3_PART_SIZE": settings.s3_part_size != S3_DEFAULT_PART_SIZE,
    }
    if not settings.storage_url:
        given = [name for name, value in s3_settings.items() if value]
        if given:
            raise ValueError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set, but OPENCORTEX_STORAGE_URL is not: "
                "set it to s3://bucket[/prefix] to store files in S3, or unset the S3 settings"
            )
        return
    parse_storage_url(settings.storage_url)
    if settings.s3_endpoint_url:
        check_endpoint_url(settings.s3_endpoint_url)
    if bool(settings.s3_access_key_id) != bool(settings.s3_secret_access_key):
        raise ValueError("OPENCORTEX_S3_ACCESS_KEY_ID and OPENCORTEX_S3_SECRET_ACCESS_KEY go together: set both, "
                         "or neither (boto3's own credential chain)")
    if not S3_MIN_PART_SIZE <= settings.s3_part_size <= S3_MAX_PART_SIZE:
        raise ValueError(f"OPENCORTEX_S3_PART_SIZE must be between {S3_MIN_PART_SIZE} (5 MiB) and "
                         f"{S3_MAX_PART_SIZE} (5 GiB) bytes, got {settings.s3_part_size}")


def check_endpoint_url(url: str) -> None:
    """``OPENCORTEX_S3_ENDPOINT_URL``: an http(s) URL with a host and perhaps a port, no credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = "" if "@" in url else f"; got {url!r}"  # never repeat a credential
        raise ValueError(f"OPENCORTEX_S3_ENDPOINT_URL must be an http(s) URL with a host, "
                         f"like https://minio.example.org:9000{shown}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("OPENCORTEX_S3_ENDPOINT_URL may not hold credentials: use OPENCORTEX_S3_ACCESS_KEY_ID "
                         "and OPENCORTEX_S3_SECRET_ACCESS_KEY")


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and pick the psycopg 3 driver for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _cast(type_name: Any, raw: str, name: str) -> Any:
    kind = str(type_name)
    if kind == "int":
        try:
            return int(raw)
        except ValueError as error:
            raise ValueError(f"OPENCORTEX_{name.upper()} must be an integer, got {raw!r}") from error
    if kind == "Path":
        return Path(raw)
    return raw
