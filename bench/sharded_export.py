"""``python -m bench.sharded_export``: one export on every core, against the same export in one process.

    python -m bench.sharded_export --docs 1000000 --db postgres --keep
    python -m bench.sharded_export --docs 20000 --db sqlite --threshold 1000    # a quick look

Loads N patients (the data set of ``python -m bench``, reused from ``.cache/bench/<db>-<N>``
with ``--keep``), then, in the same run, each scenario (NDJSON, CSV, NDJSON with ``expand`` of
``c_site``) is created through the API and run by a real export worker in a process of its own
(``--worker``, below), once with ``OPENCORTEX_EXPORT_PROCESSES=1`` and once with ``--processes``
(default: the CPU count). Both archives are checked: the data entry's SHA-256 and record count
from each manifest must be equal (the sharded entry is byte for byte the single-process one).

Reported per scenario: docs/s of each (the export record's ``started`` -> ``completed``), the
speed-up, each shard's throughput (its documents ÷ the seconds it spent reading, encoding and
deflating them, from the export's ``shards.completed`` event), the worker's join rate (documents
of the other shards ÷ the seconds it spent copying their pieces into the entry, inflating them
to hash), the peak RSS of every process (``VmHWM``), and a projection for 16 processes on 16
cores (see ``project``). Prints a Markdown table and one JSON line; docs/benchmarks.md has them.

This module is also the shards' main module when they start (multiprocessing imports it in each
shard process), so it imports little at the top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "ndjson": ("NDJSON", {"format": "application/x-ndjson"}),
    "csv": ("CSV", {"format": "text/csv"}),
    "expand": ("NDJSON, expand c_site", {"format": "application/x-ndjson", "expand": ["c_site"]}),
}
PROJECTED_CORES = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sharded_export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000, help="patients to load (default 1000000)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="OPENCORTEX_EXPORT_PROCESSES of the sharded runs (default: the CPU count)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each export; the median is reported")
    parser.add_argument("--only", help="comma-separated scenarios (ndjson,csv,expand)")
    parser.add_argument("--threshold", type=int, help="the sharding threshold (default: the server's, 100000)")
    parser.add_argument("--workdir", type=Path, help="data folder (default .cache/bench/<db>-<docs>)")
    parser.add_argument("--keep", action="store_true", help="keep the data set for later runs")
    parser.add_argument("--cold", action="store_true",
                        help="start the shard processes' fork server with the export, as a worker's first sharded "
                             "export does if it started less than a second before (default: already running, as in "
                             "a worker that has been up for a second)")
    # The worker, in a process of its own (what the benchmark starts for each export).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    result = measure(args, lambda message: print(message, file=sys.stderr, flush=True))
    print(markdown(result))
    import orjson

    print(orjson.dumps(result).decode())
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """Claim and run one export with ``--processes``; print what ``bench.worker_once`` prints."""
    import orjson

    from bench.worker_once import run_once_measured
    from opencortex.exports import shard_pool, sharding
    from opencortex.settings import Settings

    if args.threshold is not None:
        sharding.SHARD_THRESHOLD = args.threshold

    def warm_up() -> None:
        if args.processes > 1 and not args.cold:
            shard_pool.warm_up(wait=True)  # what ExportWorker.start begins

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, export_processes=args.processes)
    sys.stdout.write(orjson.dumps(run_once_measured(settings, warm_up)).decode() + "\n")
    return 0


def measure(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    from bench.dataset import discard, prepare
    from bench.exports import ApiClient
    from bench.report import load_average, machine

    workdir = args.workdir or ROOT / ".cache" / "bench" / f"{args.db}-{args.docs}"
    wanted = args.only.split(",") if args.only else list(SCENARIOS)
    data = prepare(workdir, args.docs, args.db, log=say)
    load_before = load_average()
    rows = []
    try:
        runtime = data.open_runtime()
        client = ApiClient(runtime, data)
        try:
            for key in wanted:
                label, body = SCENARIOS[key]
                single, sharded = [], []
                for _ in range(args.runs):  # alternated, so that other load on the machine hits both alike
                    single.append(export_once(runtime, data, client, body, 1, args, say, label))
                    sharded.append(export_once(runtime, data, client, body, args.processes, args, say, label))
                if {run["sha256"] for run in single + sharded} != {single[0]["sha256"]}:
                    raise RuntimeError(f"{label}: the sharded data entry differs from the single-process one")
                rows.append(summarise(key, label, single, sharded, args.processes))
        finally:
            client.close()
            runtime.close()
    finally:
        if not args.keep:
            discard(data)
    return {"db": data.db, "docs": data.docs, "processes": args.processes, "runs": args.runs,
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "load_before": load_before, "load_after": load_average(), "rows": rows}


def export_once(runtime: Any, data: Any, client: Any, body: dict[str, Any], processes: int,
                args: argparse.Namespace, say: Any, label: str) -> dict[str, Any]:
    """One export through the API and a worker of its own; what it measured."""
    import orjson
    import sqlalchemy as sa

    from bench.exports import _manifest
    from opencortex.clock import as_utc
    from opencortex.store.tables import exports

    created = client.request("POST", "exports", {"label": f"bench sharded {processes}", "objects": "c_patients",
                                                 **body})
    if created.status_code != 200:
        raise RuntimeError(f"the API refused the export: {created.text}")
    export_id = created.json()["_id"]
    command = [sys.executable, "-m", "bench.sharded_export", "--worker", "--data-dir", str(data.data_dir),
               "--database-url", data.database_url, "--processes", str(processes)]
    if args.threshold is not None:
        command += ["--threshold", str(args.threshold)]
    if args.cold:
        command.append("--cold")
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"the worker failed:\n{child.stderr[-3000:]}")
    worker = orjson.loads(child.stdout.strip().splitlines()[-1])
    with runtime.database.connect() as connection:
        row = dict(connection.execute(sa.select(exports).where(exports.c.id == export_id)).mappings().one())
    if not worker["ran"] or row["state"] != "ready":
        raise RuntimeError(f"the export ended {row['state']}: {row['fault']}")
    seconds = (as_utc(row["completed"]) - as_utc(row["started"])).total_seconds()
    docs = int(row["stats"]["docs"]["count"])
    manifest, _ = _manifest(runtime, row)
    entry = manifest["entries"][0]
    if entry["records"] != docs or docs != data.docs:
        raise RuntimeError(f"exported {docs} documents (manifest: {entry['records']}), expected {data.docs}")
    events = {event["name"]: event["event"] for event in row["events"]}
    shards = events.get("shards.completed", {}).get("processes", [])
    split = events.get("shards.completed", {}).get("split")
    if processes > 1 and len(shards) != processes:
        raise RuntimeError(f"expected {processes} shards, the export's events say {events}")
    client.request("DELETE", f"exports/{export_id}")
    run = {"seconds": seconds, "docs": docs, "bytes": entry["size"], "sha256": entry["sha256"],
           "worker_cpu": worker["cpu"], "worker_peak_rss": worker["peak_rss"], "shards": shards, "split": split}
    say(f"  {label}, {processes} process{'es' if processes > 1 else ''}: {docs:,} docs in {seconds:.2f} s "
        f"({docs / seconds:,.0f} docs/s), worker peak RSS {worker['peak_rss'] / 2**20:,.0f} MiB"
        + f", worker CPU {worker['cpu']:.2f} s"
        + (f", split at range {split}, worker joined {shards[0]['joinSeconds']:.2f} s and waited "
           f"{shards[0]['waitSeconds']:.2f} s" if shards else "")
        + "".join(f"; process {n}: {shard['docs']:,} docs, {shard['ranges']} ranges in {shard.get('seconds', 0):.2f} s "
                  f"({shard.get('cpuSeconds', 0):.2f} CPU-s), {shard.get('peakRss', 0) / 2**20:,.0f} MiB"
                  for n, shard in enumerate(shards)))
    return run


def summarise(key: str, label: str, single: list[dict[str, Any]], sharded: list[dict[str, Any]],
              processes: int) -> dict[str, Any]:
    one = median_run(single)
    many = median_run(sharded)
    docs = one["docs"]
    shards = many["shards"]
    own, others = shards[0], [shard for shard in shards[1:] if shard["docs"]]  # the processes that read ranges
    if not others:
        raise RuntimeError(f"{label}: the worker read every range itself")
    others_docs = sum(shard["docs"] for shard in others)
    row = {
        "key": key, "label": label, "docs": docs, "mb": one["bytes"] / 1e6, "processes": processes,
        "single_seconds": one["seconds"], "single_docs_per_s": docs / one["seconds"],
        "single_cpu_seconds": one["worker_cpu"], "single_docs_per_cpu_s": docs / one["worker_cpu"],
        "sharded_seconds": many["seconds"], "sharded_docs_per_s": docs / many["seconds"],
        "speedup": one["seconds"] / many["seconds"],
        "sharded_cpu_seconds": many["worker_cpu"] + sum(shard["cpuSeconds"] for shard in others),
        # Each process's throughput, by the wall clock (on this shared machine) and per CPU-second.
        "own_docs_per_s": own["docs"] / own["seconds"],
        "own_docs_per_cpu_s": own["docs"] / own["cpuSeconds"],
        "shard_docs_per_s": statistics.median(shard["docs"] / shard["seconds"] for shard in others),
        "shard_docs_per_cpu_s": statistics.median(shard["docs"] / shard["cpuSeconds"] for shard in others),
        "join_docs_per_s": others_docs / own["joinSeconds"],
        "join_docs_per_cpu_s": others_docs / max(own["joinCpuSeconds"], 1e-3),
        "startup_seconds": max(shard.get("startupSeconds", 0.0) for shard in others),
        # What the worker spent outside its shard and the join: claim, count, plan, manifest, commit.
        "fixed_cpu_seconds": max(0.0, many["worker_cpu"] - own["cpuSeconds"] - own["joinCpuSeconds"]),
        "single_peak_rss_mib": one["worker_peak_rss"] / 2**20, "worker_peak_rss_mib": many["worker_peak_rss"] / 2**20,
        "shard_peak_rss_mib": max(shard["peakRss"] for shard in others) / 2**20,
    }
    for cores in (processes, PROJECTED_CORES):
        seconds = project(row, docs, cores)
        row[f"projected_{cores}_seconds"] = seconds
        row[f"projected_{cores}_docs_per_s"] = docs / seconds
    row["projected_speedup"] = row["single_cpu_seconds"] / row[f"projected_{processes}_seconds"]
    return row


def project(row: dict[str, Any], docs: int, cores: int) -> float:
    """Seconds of the same export with ``cores`` processes, each on a core of its own, from this
    run's rates per CPU-second (the machine these ran on was shared, so wall-clock rates say
    more about the other load than about the export). It follows what the export does
    (``exports.shard_pool.RangeClaims``): the worker reads the first ``W`` documents, the
    ``cores - 1`` shard processes the rest from their measured start-up on, and the worker joins
    what they read (copy, inflate, SHA-256: one process's work however many cores there are), at
    its measured join rate; ``W`` is the best split, as the export places it.

    NDJSON and JSON join while the shard processes still read (their first ranges are done
    first): the worker ends after its reading and its join, the shard processes after their
    reading plus the join of their last range. CSV writes no row before every reader has read
    all its ranges (the header is their columns' union), so there the join follows the reading.
    Plus the worker's fixed CPU outside reading and joining (claim, count, the range plan, the
    manifest, the commit; for CSV also laying out its own rows). It assumes the database serves
    every reader as fast as it served these: on PostgreSQL the server's own work (not in these
    CPU times) then needs cores of its own."""
    from opencortex.exports.sharding import RANGES_PER_PROCESS

    own, shard, startup = row["own_docs_per_cpu_s"], row["shard_docs_per_cpu_s"], row["startup_seconds"]
    join, others = row["join_docs_per_cpu_s"], cores - 1
    last_range = docs / (cores * RANGES_PER_PROCESS) / join  # joined once the last range is read
    best = float("inf")
    for step in range(1001):
        worker_docs = docs * step / 1000
        rest = docs - worker_docs
        shards = startup + rest / (others * shard) if rest else 0.0
        if row["key"] == "csv":
            seconds = max(worker_docs / own, shards) + rest / join
        else:
            seconds = max(worker_docs / own + rest / join, shards + (last_range if rest else 0.0))
        best = min(best, seconds)
    return float(row["fixed_cpu_seconds"] + best)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def markdown(result: dict[str, Any]) -> str:
    info = result["machine"]
    processes = result["processes"]
    lines = [
        f"{result['db']}, {result['docs']:,} documents, {processes} processes, {result['when']}; "
        f"load average (1 min) {result['load_before'][0] if result['load_before'] else '?'} before, "
        f"{result['load_after'][0] if result['load_after'] else '?'} after, on {info['nproc']} CPUs "
        f"({info['cpu']}).",
        "",
        "| export | MB | 1 process: docs/s (per CPU-s) | sharded: docs/s | speed-up | per shard: docs/s (per CPU-s) "
        f"| worker join per CPU-s | shard start-up s | {processes} cores, from CPU time: docs/s, speed-up "
        f"| {PROJECTED_CORES} cores, projected docs/s | peak RSS MiB: 1 process / worker / shard |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['label']} | {row['mb']:,.0f} "
            f"| {row['single_docs_per_s']:,.0f} ({row['single_docs_per_cpu_s']:,.0f}) "
            f"| {row['sharded_docs_per_s']:,.0f} | {row['speedup']:.2f}× "
            f"| {row['shard_docs_per_s']:,.0f} ({row['shard_docs_per_cpu_s']:,.0f}) "
            f"| {row['join_docs_per_cpu_s']:,.0f} | {row['startup_seconds']:.2f} "
            f"| {row[f'projected_{processes}_docs_per_s']:,.0f}, {row['projected_speedup']:.2f}× "
            f"| {row[f'projected_{PROJECTED_CORES}_docs_per_s']:,.0f} "
            f"| {row['single_peak_rss_mib']:,.0f} / {row['worker_peak_rss_mib']:,.0f} "
            f"/ {row['shard_peak_rss_mib']:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
