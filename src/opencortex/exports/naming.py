"""Names of the entries inside an export archive, as Cortex names them.

- The data entry: ``export-<created as ISO 8601 with every ':' replaced by '_'>.<ndjson|json|csv|xml>``,
  the same name as the archive's ``dataFile.filename``. Cut into parts (``maxEntryBytes``):
  ``export-<created>.part-<n>.<ext>``, ``n`` from ``0001``, at least four digits.
- A file (``exportFiles`` with ``zipFiles``): ``files/<10-digit number><originalPath>.<ext>``,
  where ``originalPath`` is the facet's API path with every ``/`` replaced by ``.``, and ``ext``
  comes from the facet's mime type (``dat`` when unknown). Cortex writes the facet path as
  ``/files/...``; the zip entry itself has no leading slash, which zip readers would refuse.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime

from opencortex.clock import iso
from opencortex.exports.formats import format_for

MANIFEST_NAME = "manifest.json"
FILE_NUMBER_DIGITS = 10
PART_NUMBER_DIGITS = 4

# Python's built-in table only (no /etc/mime.types), so names do not change from host to host.
_MIME_TABLE = mimetypes.MimeTypes(filenames=())

# Media that are compressed already: deflating them again costs time and saves nothing.
_PRECOMPRESSED_PREFIXES = ("image/", "video/", "audio/")
_COMPRESSIBLE_MEDIA = frozenset(
    {"image/svg+xml", "image/bmp", "image/x-ms-bmp", "image/tiff", "audio/wav", "audio/x-wav"}
)
_PRECOMPRESSED_MEDIA = frozenset(
    {
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/zstd",
        "application/pdf",
        "application/epub+zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)


def data_entry_name(created: datetime, media_type: str) -> str:
    stamp = iso(created) or ""  # never empty: ``created`` is not None
    return f"export-{stamp.replace(':', '_')}.{format_for(media_type).extension}"


def data_part_name(created: datetime, media_type: str, part: int) -> str:
    """Part ``part`` (from 1) of the data entry: ``export-<created>.part-0001.<ext>``."""
    if part < 1:
        raise ValueError(f"parts are numbered from 1, not {part}")
    stamp = (iso(created) or "").replace(":", "_")
    return f"export-{stamp}.part-{part:0{PART_NUMBER_DIGITS}d}.{format_for(media_type).extension}"


def original_path(api_path: str) -> str:
    """``/c_things/5a1…/c_file/content`` -> ``.c_things.5a1….c_file.content``."""
    return api_path.replace("/", ".")


def file_entry_name(number: int, api_path: str, mime: str | None) -> str:
    if not 0 <= number < 10**FILE_NUMBER_DIGITS:
        raise ValueError(f"file number {number} does not fit {FILE_NUMBER_DIGITS} digits")
    return f"files/{number:0{FILE_NUMBER_DIGITS}d}{original_path(api_path)}.{file_extension(mime)}"


def file_extension(mime: str | None) -> str:
    media = (mime or "").split(";", 1)[0].strip().lower()
    guessed = _MIME_TABLE.guess_extension(media) if media else None
    return guessed.lstrip(".") if guessed else "dat"


def is_precompressed(mime: str | None) -> bool:
    """Whether a file of this type should be *stored* (zip method 0) rather than deflated."""
    media = (mime or "").split(";", 1)[0].strip().lower()
    if media in _COMPRESSIBLE_MEDIA:
        return False
    return media in _PRECOMPRESSED_MEDIA or media.startswith(_PRECOMPRESSED_PREFIXES)
