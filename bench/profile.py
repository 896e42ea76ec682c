"""``python -m bench.profile``: profile the real export path (``ExportWorker.run_once``) with pyinstrument.

    pip install -r bench/requirements.txt
    python -m bench.profile --docs 100000 --scenario ndjson --keep
    python -m bench.profile --docs 2000 --scenario files --files-mib 256 --keep

The data set is the benchmark's (``bench/dataset.py``; reused from ``--workdir`` when there).
The export is created through the API, then run in this process under the profiler; the text
report (and an HTML one) are written next to the data and the top of it is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.dataset import FILE_TYPES, FilesLayout, discard, ensure_files, prepare
from bench.exports import ROOT, SCENARIOS, ApiClient, export_body
from opencortex.exports.worker import ExportWorker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scenario", default="ndjson", choices=[scenario.key for scenario in SCENARIOS])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--interval", type=float, default=0.001, help="sampling interval in seconds")
    parser.add_argument("--files-mib", type=float, default=1024.0, help="files scenarios: MiB of files in all")
    parser.add_argument("--file-mib", type=float, default=16.0, help="files scenarios: MiB of each file")
    parser.add_argument("--files-type", choices=sorted(FILE_TYPES), default="jpg")
    args = parser.parse_args(argv)
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("pyinstrument is not installed: pip install -r bench/requirements.txt")

    workdir = args.workdir or ROOT / ".cache" / "bench" / f"{args.db}-{args.docs}"
    data = prepare(workdir, args.docs, args.db, log=lambda message: print(message, file=sys.stderr))
    scenario = next(scenario for scenario in SCENARIOS if scenario.key == args.scenario)
    runtime = data.open_runtime()
    try:
        if scenario.file_patients:
            ensure_files(runtime, data, FilesLayout.of(args.files_mib, args.file_mib, args.files_type),
                         log=lambda message: print(message, file=sys.stderr))
        client = ApiClient(runtime, data)
        created = client.request("POST", "exports", export_body(scenario, data)).json()
        worker = ExportWorker(runtime, concurrency=1)
        profiler = Profiler(interval=args.interval)
        profiler.start()
        worker.run_once()
        profiler.stop()
        client.request("DELETE", f"exports/{created['_id']}")
        client.close()
    finally:
        runtime.close()
        if not args.keep:
            discard(data)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    target = Path(workdir if args.keep else ROOT / ".cache" / "bench")
    target.mkdir(parents=True, exist_ok=True)
    (target / f"profile-{scenario.key}.txt").write_text(text)
    (target / f"profile-{scenario.key}.html").write_text(profiler.output_html())
    print(text)
    print(f"written to {target / f'profile-{scenario.key}.txt'} (and .html)", file=sys.stderr)


if __name__ == "__main__":
    main()
