"""The promise of incremental exports: a full export, then each incremental export (``since`` the
export before it) applied in turn, gives exactly a full export made now, document for document,
whatever history of creates, updates and deletes happened between them; with a ``where`` too,
where an instance that stops matching must leave the copy. On both databases."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opencortex.exports.jobs import ExportJob
from opencortex.exports.worker import ExportWorker
from tests.exports_api.incremental_support import Items, apply, contents, define, export

_NAMES = itertools.count()
WHERE = json.dumps({"c_n": {"$gte": 5}})

# A step: create(n, tag) | update(which, n) | delete(which) | export(kind): "delta" continues the
# chain from the export before it, "full" is a full export that later deltas continue from.
_STEP = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 9), st.sampled_from(["a", "b"])),
    st.tuples(st.just("update"), st.integers(0, 50), st.integers(0, 9)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("export"), st.sampled_from(["delta", "delta", "full"])),
)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(_STEP, min_size=3, max_size=10), filtered=st.booleans())
# Stops matching the where (must leave the copy), starts matching it, is deleted, is created and
# deleted between two exports, changes after a full export made on the way.
@example(steps=[("update", 1, 0), ("update", 0, 9), ("export", "delta")], filtered=True)
@example(steps=[("delete", 2), ("create", 7, "b"), ("delete", 3), ("export", "delta")], filtered=False)
@example(steps=[("export", "full"), ("update", 2, 1), ("delete", 0), ("export", "delta")], filtered=True)
def test_a_full_export_and_its_chain_of_deltas_is_a_full_export_of_now(platform, steps, filtered):
    name = f"c_chain{next(_NAMES)}"
    define(platform, name)
    items, worker = Items(platform, name), ExportWorker(platform.runtime, concurrency=1)
    live: list[str] = []
    request: dict[str, Any] = {"objects": name, **({"where": WHERE} if filtered else {})}
    for number in (0, 5, 8):
        live.append(items.create({"c_n": number, "c_tag": "a"}))
    # A consumer's copy and the export it is up to date with: the first full export's, and the
    # latest full export made on the way (a chain may start from any export).
    chains = [_chain(platform, export(platform, worker, **request))]
    for step in steps:
        if step[0] == "create":
            live.append(items.create({"c_n": step[1], "c_tag": step[2]}))
        elif step[0] == "update" and live:
            items.update(live[step[1] % len(live)], {"c_n": step[2]})
        elif step[0] == "delete" and live:
            items.delete(live.pop(step[1] % len(live)))
        elif step[0] == "export" and step[1] == "full":
            chains[1:] = [_chain(platform, export(platform, worker, **request))]
        elif step[0] == "export":
            for chain in chains:
                _continue(platform, worker, request, chain)
    for chain in chains:
        _continue(platform, worker, request, chain)
    now = sorted(contents(platform, export(platform, worker, **request))[0], key=lambda document: document["_id"])
    for copy, _previous in chains:
        assert sorted(copy.values(), key=lambda document: document["_id"]) == now


def _chain(platform, job: ExportJob) -> list[Any]:
    return [{document["_id"]: document for document in contents(platform, job)[0]}, job.id]


def _continue(platform, worker: ExportWorker, request: dict[str, Any], chain: list[Any]) -> None:
    """The next incremental export of the chain, applied to its copy."""
    delta = export(platform, worker, **request, since=chain[1])
    apply(chain[0], contents(platform, delta))
    chain[1] = delta.id
