"""Aggregation and streamed lists, measured against the database itself, in the same run.

    python -m bench.aggregation --docs 1000000 --db sqlite --runs 5
    python -m bench.aggregation --docs 1000000 --db postgres --runs 5

On the benchmark's data set (``bench.dataset``, reused from ``.cache/bench/<db>-<N>``):

- **$group count**: ``[{"$group": {"_id": "c_gender", "n": {"$count": "_id"}}}]`` through
  ``instances.aggregate`` (parse, compile, one statement, decode), as the administrator (every
  patient) and as the monitor (half of them, through their instance ``acl``), against the same
  count written by hand (``SELECT <c_gender>, count(*) ... GROUP BY 1``) on the same connection.
  The target: ours within 2x of the hand-written SQL. Runs alternate ours and the reference,
  after one warm-up each; the median is reported.
- **NDJSON stream**: every patient as the list route streams it (``stream_list`` +
  ``ndjson_lines``, as the administrator), in a process of its own (``--stream-child``) whose
  peak RSS (``VmHWM``, reset before streaming) is reported with its RSS before.

Prints a Markdown section for ``docs/benchmarks.md`` (which this does not write).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from bench.dataset import BenchData, discard, prepare
from bench.exports import ROOT

PIPELINE = [{"$group": {"_id": "c_gender", "n": {"$count": "_id"}}}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aggregation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the data set for later runs")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument("--stream-child", nargs=4, metavar=("DATA_DIR", "DATABASE_URL", "ORG_ID", "ACCOUNT_ID"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stream_child:
        return _stream_child(*args.stream_child)
    workdir = args.workdir or ROOT / ".cache" / "bench" / f"{args.db}-{args.docs}"
    data = prepare(workdir, args.docs, args.db, log=lambda message: print(message, file=sys.stderr, flush=True))
    try:
        group = measure_group(data, args.runs)
        stream = None if args.skip_stream else measure_stream(data)
    finally:
        if not args.keep:
            discard(data)
    print(report(data, args.runs, group, stream))
    return 0


def measure_group(data: BenchData, runs: int) -> dict[str, Any]:
    from opencortex.acl.viewer import as_principal
    from opencortex.instances.aggregate import prepare_aggregation
    from opencortex.instances.service import Instances
    from opencortex.model.objects import get_object

    runtime = data.open_runtime()
    try:
        with runtime.database.connect() as connection:
            dialect = runtime.database.dialect
            definition = get_object(connection, data.org_id, "c_patient")
            extract = "json_extract(body, '$.c_gender')" if dialect == "sqlite" else "body ->> 'c_gender'"
            raw = sa.text(f"SELECT {extract} AS gender, count(*) AS n FROM documents "  # noqa: S608 (constants)
                          "WHERE org_id = :org AND object = 'c_patient' GROUP BY 1 ORDER BY 1")

            def reference() -> list[dict[str, Any]]:
                return [{"_id": gender, "n": n} for gender, n in connection.execute(raw, {"org": data.org_id})]

            def ours(account_id: str) -> Callable[[], list[dict[str, Any]]]:
                viewer = as_principal(connection, data.org_id, account_id)
                instances = Instances(connection, dialect, data.org_id, definition, viewer)
                return lambda: prepare_aggregation(instances, PIPELINE).page(0, 100)[0]

            admin, monitor = ours(data.admin_id), ours(data.monitor_id)
            expected = reference()
            assert admin() == expected, (admin(), expected)
            assert sum(record["n"] for record in monitor()) == data.docs // 2
            timings: dict[str, list[float]] = {"reference": [], "admin": [], "monitor": []}
            for _ in range(runs):
                for key, once in (("reference", reference), ("admin", admin), ("monitor", monitor)):
                    started = time.perf_counter()
                    once()
                    timings[key].append(time.perf_counter() - started)
    finally:
        runtime.close()
    return {key: statistics.median(values) for key, values in timings.items()} | {"groups": len(expected)}


def measure_stream(data: BenchData) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.aggregation", "--stream-child", str(data.data_dir), data.database_url,
               data.org_id, data.admin_id]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the streaming child failed:\n{done.stderr[-3000:]}")
    return dict(orjson.loads(done.stdout.strip().splitlines()[-1]))


def _stream_child(data_dir: str, database_url: str, org_id: str, account_id: str) -> int:
    """Stream every patient as NDJSON into nothing; print lines, bytes, seconds, RSS before, peak RSS."""
    from opencortex.acl.viewer import as_principal
    from opencortex.instances.service import Instances, ListQuery
    from opencortex.instances.streaming import ndjson_lines, stream_list
    from opencortex.model.objects import get_object
    from opencortex.runtime import Runtime
    from opencortex.settings import Settings

    runtime = Runtime.open(Settings(data_dir=Path(data_dir), database_url=database_url), migrate=False)
    try:
        with runtime.database.connect() as connection, connection.begin():
            viewer = as_principal(connection, org_id, account_id)
            instances = Instances(connection, runtime.database.dialect, org_id,
                                  get_object(connection, org_id, "c_patient"), viewer)
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            before = _status("VmRSS")
            started = time.perf_counter()
            size = lines = 0
            for chunk in ndjson_lines(stream_list(instances, ListQuery(), None)):
                size += len(chunk)
                lines += chunk.count(b"\n")
            seconds = time.perf_counter() - started
    finally:
        runtime.close()
    result = {"lines": lines + 1 if size else 0, "bytes": size, "seconds": seconds, "rss_before": before,
              "peak_rss": _status("VmHWM")}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


def _status(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def report(data: BenchData, runs: int, group: dict[str, Any], stream: dict[str, Any] | None) -> str:
    name = "SQLite" if data.db == "sqlite" else "PostgreSQL"
    reference = group["reference"]
    rows = [
        "| measure | seconds | × hand-written SQL |",
        "| --- | ---: | ---: |",
        f"| hand-written `GROUP BY` (reference) | {reference:.3f} | 1.00 |",
        f"| `$group` count, administrator (all {data.docs:,}) | {group['admin']:.3f} | "
        f"{group['admin'] / reference:.2f} |",
        f"| `$group` count, monitor (half, by instance `acl`) | {group['monitor']:.3f} | "
        f"{group['monitor'] / reference:.2f} |",
    ]
    text = [f"### {name}, {data.docs:,} documents", "",
            f"`$group` by `c_gender` ({group['groups']} groups), median of {runs} runs:", "", *rows]
    if stream is not None:
        mib = 1024 * 1024
        text += ["", f"NDJSON stream of every patient: {stream['lines']:,} lines, {stream['bytes'] / 1e6:,.0f} MB "
                 f"in {stream['seconds']:.1f} s ({stream['lines'] / stream['seconds']:,.0f} docs/s); "
                 f"RSS {stream['rss_before'] / mib:,.0f} MiB before, peak {stream['peak_rss'] / mib:,.0f} MiB "
                 f"(+{(stream['peak_rss'] - stream['rss_before']) / mib:,.0f})."]
    return "\n".join(text)


if __name__ == "__main__":
    sys.exit(main())
