"""Lists as NDJSON (``Accept: application/x-ndjson``): every item, streamed, in flat memory.

Each line is one item exactly as the JSON list would hold it; lines are separated by a newline
and the body does not end with one (as Cortex's NDJSON exports). There is no closing line: the
official client turns the lines into ``{object:'list', data, hasMore:false}`` itself. A failure
after the first byte has gone out can no longer change the status, so it becomes a last line
holding the fault, which is what the official client looks for.

The statement runs once, as a streamed cursor (a server-side cursor on PostgreSQL), read in
batches of ``BATCH_SIZE`` rows, serialised a batch at a time; so memory does not grow with
the number of instances.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import orjson
import sqlalchemy as sa

from opencortex import faults
from opencortex.instances.raw_rows import raw_columns, to_row
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import MAX_LIMIT, Instances, ListQuery

BATCH_SIZE = 1000
log = logging.getLogger("opencortex.instances")


def stream_list(instances: Instances, query: ListQuery, limit: int | None) -> Iterator[list[dict[str, object]]]:
    """The list's documents in batches: every page of it, or the first ``limit``. The query is
    checked now (faults are raised before anything is sent); rows are read as they are consumed."""
    plan = DocumentPlan.build(instances.definition, instances.viewer, query.selection)
    statement = instances.select(query)
    if query.ending_before and (limit is None or limit > MAX_LIMIT):
        raise faults.query_invalid(
            f"endingBefore lists the instances just before one, newest first: give a limit of at most "
            f"{MAX_LIMIT}.", path="limit",
        )
    if limit is not None:
        statement = statement.limit(limit)
    return _batches(instances, plan, statement, reverse=bool(query.ending_before))


def _batches(instances: Instances, plan: DocumentPlan, statement: sa.Select[object], *, reverse: bool
             ) -> Iterator[list[dict[str, object]]]:
    # Driver tuples, as an export reads them (``raw_rows``): no per-value processing by SQLAlchemy.
    raw = statement.with_only_columns(*raw_columns(instances.dialect))
    result = instances.connection.execution_options(yield_per=BATCH_SIZE).execute(raw)
    with result:  # closes a server-side cursor whatever stops the stream
        if reverse:  # at most MAX_LIMIT rows (stream_list checks)
            rows = [to_row(row) for row in result]
            rows.reverse()
            yield plan.serialise_rows(rows, instances.load_expanded)
            return
        for batch in result.partitions():
            yield plan.serialise_rows([to_row(row) for row in batch], instances.load_expanded)


def ndjson_lines(batches: Iterable[Iterable[object]]) -> Iterator[bytes]:
    """The body: items one per line, in chunks of about a batch; a fault ends it as a last line."""
    first = True
    try:
        for batch in batches:
            chunk = b"\n".join(orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS) for item in batch)
            if chunk:
                yield chunk if first else b"\n" + chunk
                first = False
    except faults.Fault as fault:
        yield (b"" if first else b"\n") + orjson.dumps(fault.to_json())
    except Exception:
        log.exception("streaming a list failed")
        yield (b"" if first else b"\n") + orjson.dumps(faults.server_error().to_json())
