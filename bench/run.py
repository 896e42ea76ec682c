"""``python -m bench``: load N patients with the bulk import, then time our export path against the
machine's own limits, in the same run, and write the report.

    python -m bench --docs 1000000 --db sqlite --runs 3
    python -m bench --docs 1000000 --db postgres --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import references
from bench.dataset import BenchData, discard, prepare
from bench.exports import ROOT, SCENARIOS, ApiClient, Run, run_export
from bench.report import load_average, machine, save_results, summarise, with_ratios


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="patients to load (default 100000)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3, help="runs of each pipeline; the median is reported")
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="where benchmarks.md/.json/.png go (default docs/)")
    parser.add_argument("--workdir", type=Path, help="data folder (default .cache/bench/<db>-<docs>); "
                                                     "a matching data set there is reused")
    parser.add_argument("--keep", action="store_true", help="keep the data set for later runs")
    parser.add_argument("--only", help="comma-separated scenario keys (ndjson,json,csv,expand,where,principal,"
                                       "passthrough,reencode,sqlite3,copy)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    workdir = args.workdir or ROOT / ".cache" / "bench" / f"{args.db}-{args.docs}"
    wanted = set(args.only.split(",")) if args.only else None
    load_before = load_average()
    data = prepare(workdir, args.docs, args.db, log=say)
    info = machine()
    try:
        if data.db == "postgres":
            info["postgres"] = _server_version(data)
        rows = measure(data, args.runs, wanted, say)
    finally:
        if not args.keep:
            discard(data)
    result_set = {
        "db": data.db, "docs": data.docs, "runs": args.runs, "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info, "load_before": load_before, "load_after": load_average(),
        "import": {"seconds": data.import_seconds, "docs_per_s": data.docs / data.import_seconds,
                   "jobs": data.import_jobs,
                   "cpu_docs_per_s": data.docs / data.import_cpu_seconds if data.import_cpu_seconds else 0},
        "rows": with_ratios(rows),
    }
    save_results(args.out, result_set)
    say(f"wrote {args.out / 'benchmarks.md'}")
    return result_set


def measure(data: BenchData, runs: int, wanted: set[str] | None, say: Callable[[str], None]) -> list[dict[str, Any]]:
    runtime = data.open_runtime()
    client = ApiClient(runtime, data)
    rows: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=data.workdir))
    try:
        for scenario in SCENARIOS:
            if wanted is None or scenario.key in wanted:
                rows.append(_repeat(scenario.key, scenario.label, "export", runs, say,
                                    lambda s=scenario: run_export(runtime, data, client, s)))
        refs: list[tuple[str, str, Callable[[], Run | None], str]] = [
            ("passthrough", "passthrough limit (read text, zip, encrypt)",
             lambda: references.passthrough(runtime, data), ""),
            ("reencode", "re-encode limit (+ orjson loads/dumps)",
             lambda: references.passthrough(runtime, data, reencode=True), ""),
        ]
        if data.db == "sqlite":
            refs.append(("sqlite3", "sqlite3 -json (to a file, no zip)", lambda: references.sqlite_json(data, scratch),
                         "sqlite3 -json: the command-line tool is not installed (apt-get install sqlite3); skipped."))
        else:
            refs.append(("copy", "COPY ... TO STDOUT (to a file, no zip)", lambda: references.pg_copy(data, scratch),
                         ""))
        for key, label, measure_once, missing in refs:
            if wanted is not None and key not in wanted:
                continue
            if key == "sqlite3" and shutil.which("sqlite3") is None:
                rows.append({"key": key, "label": label, "kind": "reference", "skipped": True, "note": missing,
                             "docs_per_s": 0.0})
                say(missing)
                continue
            rows.append(_repeat(key, label, "reference", runs, say, measure_once))
    finally:
        client.close()
        runtime.close()
    return rows


def _repeat(key: str, label: str, kind: str, runs: int, say: Callable[[str], None],
            once: Callable[[], Run | None]) -> dict[str, Any]:
    results = []
    for number in range(runs):
        started = time.perf_counter()
        result = once()
        assert result is not None
        results.append(result)
        say(f"  {label}: run {number + 1}/{runs}: {result.docs:,} docs in {result.seconds:.2f} s "
            f"({result.docs / result.seconds:,.0f} docs/s; {time.perf_counter() - started:.1f} s with setup)")
    return summarise(key, label, kind, results)


def _server_version(data: BenchData) -> str | None:
    import sqlalchemy as sa

    engine = sa.create_engine(data.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return "PostgreSQL " + str(connection.exec_driver_sql("SHOW server_version").scalar())
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
