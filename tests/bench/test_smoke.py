"""The benchmark runs end to end on a tiny data set (SQLite, one run) and writes its report.

No timing is asserted: only that every pipeline ran, exported what it should and was reported.
"""

from __future__ import annotations

import json
import struct

from bench.chart import Bar, Panel, bar_chart
from bench.run import main

TINY_FILES = ["--files-mib", "0.125", "--file-mib", "0.0625"]  # 2 files of 64 KiB


def test_the_benchmark_runs_end_to_end_and_writes_its_report(tmp_path):
    out = tmp_path / "docs"
    messages: list[str] = []
    result = main(["--docs", "200", "--runs", "1", "--db", "sqlite", "--out", str(out),
                   "--workdir", str(tmp_path / "work"), *TINY_FILES], log=messages.append)

    rows = {row["key"]: row for row in result["rows"]}
    assert set(rows) == {"ndjson", "json", "csv", "expand", "where", "principal", "files", "files-base",
                         "passthrough", "reencode", "filecopy", "sqlite3"}
    for key in ("ndjson", "json", "csv", "expand", "passthrough", "reencode"):
        assert rows[key]["docs"] == 200 and rows[key]["docs_per_s"] > 0, rows[key]
    assert rows["principal"]["docs"] == 100  # the monitor is granted every other patient
    assert 0 < rows["where"]["docs"] < 200
    for key in ("ndjson", "csv", "principal"):
        assert rows[key]["peak_rss_mib"] > 0 and rows[key]["archive_mb"] > 0
    assert rows["reencode"]["vs_reencode"] == 1.0
    assert result["import"]["docs_per_s"] > 0

    page = (out / "benchmarks.md").read_text()
    assert "### SQLite, 200 documents" in page and "**export NDJSON**" in page and "re-encode limit" in page
    stored = json.loads((out / "benchmarks.json").read_text())
    assert [(item["db"], item["docs"]) for item in stored] == [("sqlite", 200)]
    png = (out / "benchmarks.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width > 400 and height > 100
    assert not (tmp_path / "work").exists()  # the data set is removed unless --keep


def test_the_files_scenario_exports_the_attached_files_and_keeps_them_with_the_data_set(tmp_path):
    out, work = tmp_path / "docs", tmp_path / "work"
    messages: list[str] = []

    def arguments(only: str, files: list[str]) -> list[str]:
        return ["--docs", "20", "--runs", "1", "--db", "sqlite", "--out", str(out), "--workdir", str(work),
                "--keep", "--only", only, *files]

    result = main(arguments("files", TINY_FILES), log=messages.append)

    rows = {row["key"]: row for row in result["rows"]}
    assert set(rows) == {"files", "files-base", "filecopy"}
    files, base, copy = rows["files"], rows["files-base"], rows["filecopy"]
    assert files["docs"] == base["docs"] == 2  # the export's where selects the patients holding the files
    assert files["files"] == copy["files"] == 2 and files["files_mb"] == copy["files_mb"] == 2 * 65536 / 1e6
    assert files["archive_mb"] > files["files_mb"] > base["archive_mb"]  # stored: the zip holds them whole
    assert files["peak_rss_mib"] > 0 and files["rss_growth_mib"] is not None and base["peak_rss_mib"] > 0
    assert files["mb_per_s"] > 0 and files["vs_reencode"] is None
    assert "2 files of 64 KiB" in files["label"] and "exportFiles" in files["note"]
    assert any(message.startswith("uploading 2 files of 64 KiB") for message in messages)
    page = (out / "benchmarks.md").read_text()
    assert f"**{files['label']}**" in page and "files copy limit" in page

    recorded = json.loads((work / "bench.json").read_text())["files"]
    assert (recorded["count"], recorded["size"], recorded["ext"]) == (2, 65536, "jpg")
    assert [item["number"] for item in recorded["items"]] == ["S-0000001", "S-0000002"]
    assert all(item["mime"] == "image/jpeg" and item["size"] == 65536 for item in recorded["items"])

    messages.clear()  # with --keep, the next run reuses the data set and its files
    result = main(arguments("filecopy", TINY_FILES), log=messages.append)
    assert any(message.startswith("reusing 2 files of 64 KiB") for message in messages)
    assert [row["key"] for row in result["rows"]] == ["filecopy"]
    assert json.loads((work / "bench.json").read_text())["files"] == recorded

    messages.clear()  # another layout is uploaded afresh, over the same patients (deflated, as .bin)
    result = main(arguments("files", ["--files-mib", "0.0625", "--file-mib", "0.0625", "--files-type", "bin"]),
                  log=messages.append)
    assert any(message.startswith("uploading 1 file of 64 KiB") for message in messages)
    rows = {row["key"]: row for row in result["rows"]}
    assert rows["files"]["files"] == 1 and rows["files"]["docs"] == 1
    assert rows["files"]["archive_mb"] > 65536 / 1e6  # random bytes do not deflate
    assert json.loads((work / "bench.json").read_text())["files"]["ext"] == "bin"


def test_a_rerun_keeps_the_hand_written_text_and_other_result_sets(tmp_path):
    from bench.report import END, START, save_results

    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nMethod by hand.\n\n{START}\nold figures\n{END}\n\n## Profile\n\nBy hand too.\n")
    row = {"key": "reencode", "label": "re-encode limit", "kind": "reference", "docs": 10, "runs": [1.0],
           "seconds": 1.0, "docs_per_s": 10.0, "mb_per_s": 1.0, "data_mb": 1.0, "archive_mb": 0.5,
           "cpu_seconds": 1.0, "cpu_docs_per_s": 10.0, "peak_rss_mib": None, "rss_growth_mib": None, "note": "",
           "vs_reencode": 1.0}
    base = {"runs": 1, "when": "today", "machine": {"cpu": "x", "nproc": 2, "memory_gib": 1.0, "kernel": "k",
                                                     "python": "3", "sqlite": "3"},
            "load_before": [1.0], "load_after": [1.0],
            "import": {"seconds": 1.0, "docs_per_s": 10.0, "cpu_docs_per_s": 10.0}, "rows": [row]}
    save_results(tmp_path, {**base, "db": "postgres", "docs": 10})
    save_results(tmp_path, {**base, "db": "sqlite", "docs": 10})
    text = page.read_text()
    assert "Method by hand." in text and "## Profile\n\nBy hand too." in text and "old figures" not in text
    assert text.index("### SQLite, 10 documents") < text.index("### PostgreSQL, 10 documents")


def test_the_chart_is_a_valid_png(tmp_path):
    path = tmp_path / "chart.png"
    bar_chart([Panel("SQLite, 10 docs", [Bar("NDJSON", 10.0, "10", (0, 0, 255)), Bar("Zero", 0.0, "0", (0, 0, 0))])],
              path, title="Title: docs/s")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
