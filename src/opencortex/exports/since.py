"""``since``: what an incremental export starts from (an OpenCortex extension of the Export object).

Three forms, as the ``since`` property and the ``params`` column hold them (one string):

- the ``_id`` of an earlier export of the same data: what changed after the snapshot that
  export read (exact: ``store.changes``);
- an ISO 8601 date or date-time: what was created or updated after it, by the instances'
  ``created``/``updated`` (a clock: see the caveats in ``docs/exports.md``);
- ``previous``, in an export schedule's template only: the schedule's previous ready export
  (the first run, or one that cannot continue the chain, is a full export).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from opencortex import faults
from opencortex.clock import iso
from opencortex.model.problems import Problems
from opencortex.model.properties.dates import parse_instant

PREVIOUS = "previous"
_EXPORT_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class ExportSince:
    export_id: str | None = None
    moment: datetime | None = None
    previous: bool = False

    @classmethod
    def parse(cls, text: object) -> ExportSince | None:
        """``since`` as given; None when it is none of the three forms."""
        if not isinstance(text, str):
            return None
        if text == PREVIOUS:
            return cls(previous=True)
        if _EXPORT_ID.match(text):
            return cls(export_id=text)
        try:
            return cls(moment=datetime.fromisoformat(parse_instant(text).replace("Z", "+00:00")))
        except ValueError:
            return None

    def __str__(self) -> str:
        if self.previous:
            return PREVIOUS
        if self.export_id is not None:
            return self.export_id
        return str(iso(self.moment))


def read_since(value: object, schedule: bool, problems: Problems) -> ExportSince | None:
    """``since`` of a create body, its form only (``schedule``: the body is a schedule's template);
    what it names is checked once the rest of the request is known (``exports.incremental``)."""
    if value is None:
        return None
    since = ExportSince.parse(value)
    if since is None:
        problems.add(faults.invalid_argument("since is the _id of an earlier export of the same data, or an ISO "
                                             "8601 date.", path="since"))
    elif since.previous and not schedule:
        problems.add(faults.invalid_argument("since: previous is only for an export schedule's template (the "
                                             "schedule's previous export).", path="since"))
        return None
    return since
