"""The README's own commands, run as printed against a fresh ``make run``-style server.

So that the README cannot drift from the code, this test:

1. reads README.md: its ```sh blocks, grouped by section (the ``## `` heading above them), and
   the block that ``make run`` prints (the fenced block starting with ``OpenCortex demo``);
2. does what ``make run`` does in a fresh folder: ``opencortex demo`` (once with ``--json``, for
   the credentials, once as printed, whose labelled lines must be the README's, label for label),
   then ``opencortex serve``, with SQLite in ``./var`` and ``.venv`` linked in, on a free port;
3. puts the printed credentials in place of the README's example values (each labelled value of
   the printed block: password, API key, API secret; for URLs, their ``http://host:port``);
4. runs each section's blocks in order in one bash (``set -euo pipefail``, so ``jar``, ``CSRF``
   and ``ID`` carry from block to block, and an unset variable or a failing command stops it);
5. fails unless every command exits 0, every curl call succeeds (curl gets ``--fail-with-body``,
   so an HTTP error status fails it), no response is a fault (a JSON body or an NDJSON line with
   ``"object": "fault"``), no response says ``loggedin: false``, every ``GET .../accounts/me``
   answers the demo administrator, and each ``# prints: TEXT`` comment's TEXT appears in the
   output of its block.

Commands that must not run inside a test are left out only by the rules in ``SKIP_RULES``, each
with its reason; what they left out is printed with the test's output. The README's examples
are meant to succeed: an example of a refused request would need a rule of its own here.

It needs bash, curl, openssl and python3 (the README's prerequisites and tools). When one is
missing the test is skipped with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import OPENCORTEX, free_port

README = Path(__file__).resolve().parents[2] / "README.md"
TOOLS = ("bash", "curl", "openssl", "python3")
SECTION_TIMEOUT_SECONDS = 300

# (pattern of a command line, why it is not run). A logical line (backslash continuations
# joined) that matches is left out of its block.
SKIP_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\s*(\w+=\S*\s+)*make\b"),
     "make targets: the test itself does what `make run` does (demo, then serve on a free port), and "
     "`make test` or `make bench` would run the suites inside this test"),
]

PRINTS = re.compile(r"^\s*# prints: (?P<text>.+?)\s*$")
LABELLED = re.compile(r"^\s+(?P<label>[A-Za-z][A-Za-z ]*):\s+(?P<value>\S+)$")
BLOCK_MARK = "@@readme-block-{}@@"

# Every curl call of the README goes through this function: it records the call's arguments,
# exit status and body (in $README_CALLS), and makes an HTTP error status fail the call.
PRELUDE = r"""set -euo pipefail
curl() {
  local record status=0
  record=$(mktemp "$README_CALLS/$(date +%s%N).XXXXXX")
  printf '%s\0' "$@" > "$record.args"
  command curl --fail-with-body "$@" > "$record.body" || status=$?
  cat "$record.body"
  printf '%s' "$status" > "$record.status"
  return "$status"
}
"""


@dataclass
class Block:
    script: str  # what runs: the block without its skipped lines
    skipped: list[tuple[str, str]]  # (command, reason)
    prints: list[str]  # texts its "# prints:" comments promise


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Readme:
    sections: list[Section]
    printed: list[tuple[str, str]]  # the labelled lines of the block `make run` prints


def parse_readme(text: str) -> Readme:
    sections: list[Section] = [Section("(before the first section)")]
    printed: list[tuple[str, str]] | None = None
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("## "):
            sections.append(Section(line[3:].strip()))
        elif line.startswith("```"):
            fence = line[3:].strip()
            body = []
            for inner in lines:
                if inner.startswith("```"):
                    break
                body.append(inner)
            if fence == "sh":
                sections[-1].blocks.append(parse_block(body))
            elif body and body[0].strip() == "OpenCortex demo" and printed is None:
                printed = labelled_lines(body)
    assert printed, "README.md no longer shows what `make run` prints (a block starting with 'OpenCortex demo')"
    return Readme([section for section in sections if section.blocks], printed)


def parse_block(lines: list[str]) -> Block:
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    prints = [match["text"] for match in map(PRINTS.match, lines) if match]
    logical: list[str] = []
    for line in lines:
        logical.append(line)
        if line.endswith("\\"):
            continue
        command = "\n".join(logical)
        logical = []
        reason = next((why for pattern, why in SKIP_RULES if pattern.match(command)), None)
        if reason is None:
            kept.append(command)
        else:
            skipped.append((command.split("#")[0].strip(), reason))
    kept.extend(logical)
    return Block("\n".join(kept) + "\n", skipped, prints)


def labelled_lines(lines: list[str]) -> list[tuple[str, str]]:
    """The ``  Label:  value`` lines after the first line, up to the first line of another shape."""
    found = []
    for line in lines[1:]:
        match = LABELLED.match(line)
        if match is None:
            break
        found.append((match["label"], match["value"]))
    return found


def substitutions(readme: list[tuple[str, str]], actual: list[tuple[str, str]]) -> dict[str, str]:
    """README example value -> the value printed now, label by label (URLs: their origin)."""
    values: dict[str, str] = {}
    for (label, example), (printed_label, value) in zip(readme, actual, strict=True):
        assert label == printed_label, (readme, actual)
        if example.startswith("http"):
            example, value = _origin(example), _origin(value)
        if example != value:
            values[example] = value
    return values


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def substitute(script: str, values: dict[str, str]) -> str:
    for example in sorted(values, key=len, reverse=True):
        script = script.replace(example, values[example])
    return script


def required_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    message = f"the README test needs {', '.join(missing)} on PATH (the README's commands use them)"
    if not missing:
        version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1:2]
        if tuple(int(part) for part in (version or ["0"])[0].split(".")[:2]) >= (7, 76):
            return
        message = f"the README test needs curl 7.76 or newer (for --fail-with-body), not {version}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Fresh:
    """A `make run`-style server in a fresh folder."""

    folder: Path
    env: dict[str, str]
    origin: str
    demo: dict[str, Any]  # `opencortex demo --json`
    printed: list[tuple[str, str]]  # the labelled lines `opencortex demo` prints


def clean_environment(port: int) -> dict[str, str]:
    """This process's environment without OpenCortex settings or proxies: as on a new machine."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("OPENCORTEX_") and name.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["OPENCORTEX_PORT"] = str(port)
    return env


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    required_tools()
    folder = tmp_path_factory.mktemp("readme")
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the README calls .venv/bin/opencortex
    port = free_port()
    env = clean_environment(port)

    def opencortex(*args: str) -> str:
        done = subprocess.run([OPENCORTEX, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    demo = json.loads(opencortex("demo", "--json"))
    output = opencortex("demo").splitlines()
    assert output and output[0] == "OpenCortex demo", output
    printed = labelled_lines(output)
    for key in ("email", "password", "apiKey", "apiSecret"):
        assert demo[key] in dict(printed).values(), (key, printed)  # the same credentials, as printed

    log = (folder / "server.log").open("wb")
    server = subprocess.Popen([OPENCORTEX, "serve"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(origin):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start:\n" + (folder / "server.log").read_text())
            time.sleep(0.2)
        yield Fresh(folder, env, origin, demo, printed)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _healthy(origin: str) -> bool:
    try:
        return httpx.get(f"{origin}/health").status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Call:
    args: list[str]
    status: int
    body: bytes

    @property
    def url(self) -> str:
        return next((arg for arg in self.args if arg.startswith("http")), "?")

    def describe(self) -> str:
        return f"curl {shlex.join(self.args)} -> exit {self.status}, body {self.body[:2000]!r}"


@dataclass
class SectionRun:
    returncode: int
    stdout: str
    stderr: str
    calls: list[Call]

    def block_output(self, index: int) -> str:
        start = self.stdout.find(BLOCK_MARK.format(index))
        end = self.stdout.find(BLOCK_MARK.format(index + 1))
        return self.stdout[start:end if end >= 0 else None] if start >= 0 else ""


def run_section(fresh: Fresh, section: Section, values: dict[str, str], name: str) -> SectionRun:
    calls_dir = fresh.folder / "calls" / name
    calls_dir.mkdir(parents=True)
    parts = [PRELUDE]
    for index, block in enumerate(section.blocks):
        parts += [f"printf '\\n%s\\n' '{BLOCK_MARK.format(index)}'", substitute(block.script, values)]
    script = "\n".join(parts) + f"\nprintf '\\n%s\\n' '{BLOCK_MARK.format(len(section.blocks))}'\n"
    env = dict(fresh.env, README_CALLS=str(calls_dir))
    done = subprocess.run(["bash", "-c", script], cwd=fresh.folder, env=env, capture_output=True, text=True,
                          timeout=SECTION_TIMEOUT_SECONDS)
    calls = []
    for args_file in sorted(calls_dir.glob("*.args")):
        record = args_file.with_suffix("")
        status_file = record.with_name(record.name + ".status")
        calls.append(Call(args=args_file.read_bytes().decode().split("\0")[:-1],
                          status=int(status_file.read_text()) if status_file.exists() else -1,
                          body=record.with_name(record.name + ".body").read_bytes()))
    return SectionRun(done.returncode, done.stdout, done.stderr, calls)


def problems_of(run: SectionRun, section: Section, admin_email: str) -> list[str]:
    """Everything that went wrong in one section's run, in words (empty: it all worked)."""
    found = []
    if run.returncode != 0:
        found.append(f"the shell exited {run.returncode}; stderr:\n{run.stderr[-3000:]}")
    if "curl" in "".join(block.script for block in section.blocks) and not run.calls:
        found.append("the section runs curl, but no call was recorded")
    for call in run.calls:
        if call.status != 0:
            found.append(f"failed: {call.describe()}")
        for answer in _json_answers(call.body):
            if answer.get("object") == "fault":
                found.append(f"a fault: {call.describe()}")
            data = answer.get("data")
            if answer.get("object") == "result" and isinstance(data, dict) and data.get("loggedin") is False:
                found.append(f"acted as anonymous: {call.describe()}")
        if call.url.split("?")[0].endswith("/accounts/me") and not {"-X", "-d", "--data"} & set(call.args):
            answers = _json_answers(call.body)
            if not answers or answers[0].get("email") != admin_email:
                found.append(f"/accounts/me is not the demo administrator: {call.describe()}")
    for index, block in enumerate(section.blocks):
        output = run.block_output(index)
        found += [f"block {index + 1} should print {text!r}; it printed:\n{output[-2000:]}"
                  for text in block.prints if text not in output]
    return found


def _json_answers(body: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a body: the body itself, or each line of NDJSON; none for other bytes."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text.startswith("{"):
        return []
    try:
        value = json.loads(text)
        return [value] if isinstance(value, dict) else []
    except ValueError:
        answers = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                answers.append(item)
        return answers


def test_parsing_blocks_sections_and_skip_rules() -> None:
    """How the README is read: fast, without a server."""
    readme = parse_readme("\n".join([
        "# Title", "```", "OpenCortex demo", "  URL:        http://127.0.0.1:8080/demo/v2",
        "  API key:    EXAMPLEKEY", "Try:", "```",
        "## One", "```sh", "make run    # serve", "OPENCORTEX_PORT=8081 make run", "A=1 \\", "  B=2", "```",
        "```js", "ignored()", "```",
        "## Two", "```sh", "curl -s \\", "     http://127.0.0.1:8080/x", "# prints: ready 474", "```",
    ]))
    assert [section.title for section in readme.sections] == ["One", "Two"]
    one, two = readme.sections[0].blocks[0], readme.sections[1].blocks[0]
    assert one.script == "A=1 \\\n  B=2\n"
    assert [command for command, _ in one.skipped] == ["make run", "OPENCORTEX_PORT=8081 make run"]
    assert two.script.startswith("curl -s \\\n     http://127.0.0.1:8080/x") and two.prints == ["ready 474"]
    assert readme.printed == [("URL", "http://127.0.0.1:8080/demo/v2"), ("API key", "EXAMPLEKEY")]
    values = substitutions(readme.printed, [("URL", "http://127.0.0.1:9999/demo/v2"), ("API key", "REAL")])
    assert substitute(two.script, values).startswith("curl -s \\\n     http://127.0.0.1:9999/x")
    assert substitute("KEY=EXAMPLEKEY", values) == "KEY=REAL"


@pytest.mark.e2e
def test_the_readme_commands_work_as_printed(fresh: Fresh) -> None:
    readme = parse_readme(README.read_text())
    assert [label for label, _ in readme.printed] == [label for label, _ in fresh.printed], (
        "`opencortex demo` prints other lines than the README shows", readme.printed, fresh.printed)
    values = substitutions(readme.printed, fresh.printed)
    for section in readme.sections:
        for block in section.blocks:
            for command, reason in block.skipped:
                print(f"README, {section.title}: not run: {command} ({reason})")
    runnable = [section for section in readme.sections if any(block.script.strip() for block in section.blocks)]
    assert runnable, "no README section has a command to run"
    report = {}
    for number, section in enumerate(runnable):
        run = run_section(fresh, section, values, f"section-{number}")
        problems = problems_of(run, section, fresh.demo["email"])
        if problems:
            report[section.title] = problems
    assert not report, "README commands that do not work as printed:\n" + json.dumps(report, indent=2)


@pytest.mark.e2e
@pytest.mark.parametrize(("broken", "problem"), [
    ('curl -s -H "Medable-Client-Key: NOTTHEKEY0000000000000" http://127.0.0.1:8080/demo/v2\n', "failed:"),
    ('curl -s -H "Medable-Client-Key: {key}" http://127.0.0.1:8080/demo/v2/accounts/status\n', "acted as anonymous"),
    ('echo "$UNSET_VARIABLE"\n', "the shell exited"),
    ("echo pending 0\n# prints: ready 474\n", "should print"),
])
def test_a_broken_example_fails_the_test(fresh: Fresh, broken: str, problem: str) -> None:
    """The checks catch what the issue reported: a bad header, an anonymous answer, an unset $ID."""
    readme = parse_readme(README.read_text())
    values = substitutions(readme.printed, fresh.printed)
    broken = broken.replace("{key}", dict(readme.printed)["API key"])  # the README's example key
    section = Section("broken", [parse_block(broken.splitlines())])
    run = run_section(fresh, section, values, f"broken-{problem.split()[0]}-{time.monotonic_ns()}")
    problems = problems_of(run, section, fresh.demo["email"])
    assert any(problem in found for found in problems), problems
