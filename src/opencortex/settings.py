"""One settings object, read once from ``OPENCORTEX_*`` variables (CLI flags override them).

Defaults serve the embedded mode: data folder ``./var`` with the SQLite database in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


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
