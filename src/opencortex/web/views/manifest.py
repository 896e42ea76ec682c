"""An export's manifest, read from its archive and checked as ``opencortex export verify`` checks it.

The manifest is the archive's last entry, and the archive is stored encrypted (Tink cannot seek),
so reading it means decrypting the archive once: into an anonymous file in the data folder, read
by ``exports.verify.verify_archive`` (the command line's own check), then removed. The SHA-256 of
the bytes is compared with the export's ``sha256`` on the way. Results are kept per archive (an
archive never changes once ready), so a page shown again does not decrypt again. The archive is
read through ``operations.download_archive``, so the read is in the audit trail like a download.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from opencortex.exports import operations
from opencortex.exports.verify import Problem, verify_archive
from opencortex.runtime import Runtime

CACHED_MANIFESTS = 16
AUDIT_VIA = "console-verify"


@dataclass(frozen=True)
class ArchiveCheck:
    manifest: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    sha256: str = ""
    """Of the archive's bytes as read now."""
    expected_sha256: str | None = None
    """The export's ``sha256``, recorded when it finished."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.manifest is not None and self.sha256 == self.expected_sha256


_checked: OrderedDict[tuple[str, str, str], ArchiveCheck] = OrderedDict()
_lock = threading.Lock()


def check_archive(runtime: Runtime, org_id: str, export_id: str, principal: str) -> ArchiveCheck:
    """The manifest of a ready export's archive and what verifying the archive found."""
    path = f"/exports/{export_id}/dataFile/content"
    job = operations.ready_export(runtime, org_id, export_id, path=path)  # kMediaNotReady before ready
    key = (org_id, export_id, job.sha256 or "")
    with _lock:
        if key in _checked:
            _checked.move_to_end(key)
            return _checked[key]
    archive = operations.download_archive(runtime, org_id, export_id, path=path, principal=principal,
                                          via=AUDIT_VIA)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=runtime.settings.data_dir, prefix=".console-verify-",
                                     suffix=".zip") as spool:
        with runtime.file_store.open_reader(archive.key) as reader:
            for chunk in reader:
                digest.update(chunk)
                spool.write(chunk)
        spool.flush()
        report = verify_archive(spool.name)
    checked = ArchiveCheck(manifest=report.manifest, problems=list(report.problems), sha256=digest.hexdigest(),
                           expected_sha256=job.sha256)
    with _lock:
        _checked[key] = checked
        while len(_checked) > CACHED_MANIFESTS:
            _checked.popitem(last=False)
    return checked
