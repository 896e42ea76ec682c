"""``python -m bench``: load N patients with the bulk import, then time our export path against the
machine's own limits, in the same run, and write the report.

    python -m bench --docs 1000000 --db sqlite --runs 3
    python -m bench --docs 1000000 --db postgres --runs 3
    python -m bench --docs 2000 --only files --files-mib 1024    # 1 GiB of attached files, exported
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
from bench.dataset import FILE_TYPES, BenchData, FilesLayout, discard, ensure_files, prepare
from bench.exports import ROOT, SCENARIOS, ApiClient, Run, Scenario, run_export
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
                                       "files,passthrough,reencode,filecopy,sqlite3,copy); files runs files-base "
                                       "and filecopy too")
    parser.add_argument("--files-mib", type=float, default=1024.0,
                        help="files scenario: MiB of attached files in all (default 1024)")
    parser.add_argument("--file-mib", type=float, default=16.0,
                        help="files scenario: MiB of each file, about (default 16: 64 files for 1 GiB)")
    parser.add_argument("--files-type", choices=sorted(FILE_TYPES), default="jpg",
                        help="files scenario: the files' type by name: jpg (default) is stored in the zip "
                             "as it is, bin (application/octet-stream) is deflated")
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
        layout = FilesLayout.of(args.files_mib, args.file_mib, args.files_type)
        rows = measure(data, args.runs, wanted, say, files=layout)
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


def measure(data: BenchData, runs: int, wanted: set[str] | None, say: Callable[[str], None], *,
            files: FilesLayout | None = None) -> list[dict[str, Any]]:
    runtime = data.open_runtime()
    client = ApiClient(runtime, data)
    rows: list[dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=data.workdir))
    try:
        scenarios = [scenario for scenario in SCENARIOS if scenario.selected(wanted)]
        copy_limit = wanted is None or bool({"files", "filecopy"} & wanted)  # the files copy limit
        if copy_limit or any(scenario.file_patients for scenario in scenarios):
            ensure_files(runtime, data, files or FilesLayout.of(1024, 16), log=say)
        for scenario in scenarios:
            label, note = _describe(scenario, data)
            rows.append(_repeat(scenario.key, label, "export", runs, say,
                                lambda s=scenario: run_export(runtime, data, client, s), note))
        refs: list[tuple[str, str, Callable[[], Run | None], str]] = [
            ("passthrough", "passthrough limit (read text, zip, encrypt)",
             lambda: references.passthrough(runtime, data), ""),
            ("reencode", "re-encode limit (+ orjson loads/dumps)",
             lambda: references.passthrough(runtime, data, reencode=True), ""),
        ]
        if copy_limit:
            refs.append(("filecopy", "files copy limit (decrypt, encrypt, write; no zip; MB/s of file bytes)",
                         lambda: references.files_copy(runtime, data), ""))
        if data.db == "sqlite":
            refs.append(("sqlite3", "sqlite3 -json (to a file, no zip)", lambda: references.sqlite_json(data, scratch),
                         "sqlite3 -json: the command-line tool is not installed (apt-get install sqlite3); skipped."))
        else:
            refs.append(("copy", "COPY ... TO STDOUT (to a file, no zip)", lambda: references.pg_copy(data, scratch),
                         ""))
        for key, label, measure_once, missing in refs:
            if wanted is not None and key not in wanted and not (key == "filecopy" and copy_limit):
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


def _describe(scenario: Scenario, data: BenchData) -> tuple[str, str]:
    """The row's label and note; the files scenarios name the files they read."""
    if not scenario.file_patients or data.files is None:
        return scenario.label, ""
    layout = FilesLayout(data.files["count"], data.files["size"], data.files["ext"])
    if scenario.key == "files-base":
        return f"export NDJSON, the same {layout.count:,} patients, no files", ""
    stored = "stored as they are" if layout.ext == "jpg" else "deflated"
    note = (f"*export NDJSON + files*: `exportFiles` and `zipFiles` over the {layout.count:,} patients holding a "
            f"file (`where` `{layout.where}`), {layout.describe()} of random bytes in `c_photo`, uploaded "
            f"with `upload_file` (a direct upload's code), {stored} in the zip; *MB/s* here is file bytes "
            f"÷ seconds. Its peak RSS is to be compared with the next row (the same export without "
            f"`exportFiles`) and with *export NDJSON*. The *files copy limit* decrypts the same files and "
            f"writes them, encrypted again, into one stored object (with the MD5 and SHA-256 an archive gets), "
            f"without zip entries, per-file SHA-256 or documents: the floor of the files part here.")
    return f"export NDJSON + {layout.describe().split(' (')[0]} in the zip (MB/s of file bytes)", note


def _repeat(key: str, label: str, kind: str, runs: int, say: Callable[[str], None],
            once: Callable[[], Run | None], note: str = "") -> dict[str, Any]:
    results = []
    for number in range(runs):
        started = time.perf_counter()
        result = once()
        assert result is not None
        results.append(result)
        files = (f"; {result.files:,} files, {result.file_bytes / 1e6:,.1f} MB, "
                 f"{result.file_bytes / 1e6 / result.seconds:,.0f} MB/s" if result.files else "")
        rss = (f"; peak RSS {result.peak_rss / 2**20:,.0f} MiB (+{(result.peak_rss - result.rss_before) / 2**20:,.0f})"
               if result.peak_rss and result.rss_before else "")
        say(f"  {label}: run {number + 1}/{runs}: {result.docs:,} docs in {result.seconds:.2f} s "
            f"({result.docs / result.seconds:,.0f} docs/s{files}{rss}; "
            f"{time.perf_counter() - started:.1f} s with setup)")
    return summarise(key, label, kind, results, note)


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
