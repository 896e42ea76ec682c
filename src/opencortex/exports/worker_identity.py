"""Who holds an export's lease: a worker's identity, and whether a worker is provably gone.

A worker's id (the ``lease_owner`` of the exports it runs) says where it runs and which process
it is: ``<host>:<pid namespace>:<pid>:<token>``, e.g. ``web-1:4026531836:4121:0c1d2e3f``. The token
tells apart the workers of one process. A worker that starts can then tell, for a lease held by a
worker of its own machine, whether that worker's process still exists; when it does not (the
process was killed, or the machine restarted), its exports run again at once instead of after
their lease runs out.

"Its own machine" is the host name *and* the process-id namespace: containers that share a host
name (host networking) but not a process table see different namespaces, so one never takes a
process id of another for its own. Anything else (another machine, an id of another form, a
process id that exists, whoever runs it) proves nothing, and the lease runs its course.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from dataclasses import dataclass

from opencortex.store.tables import exports

MAX_ID_LENGTH = int(getattr(exports.c.lease_owner.type, "length", None) or 64)
"""The ``lease_owner`` column's width: a long host name is shortened to fit (see ``_short_host``)."""
UNKNOWN_NAMESPACE = "-"
"""Where process-id namespaces cannot be read (not Linux): the host name alone places a worker."""
_TOKEN_HEX = 8
_HASH_HEX = 8
_ID = re.compile(r"^(?P<host>[^:]+):(?P<namespace>\d+|-):(?P<pid>[1-9]\d{0,9}):(?P<token>[0-9a-f]+)$")
_NOT_IN_HOST = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class WorkerIdentity:
    host: str
    """The host name (shortened to fit, with a hash of the whole name, when long)."""
    namespace: str
    """The process-id namespace (its inode number, as ``readlink /proc/<pid>/ns/pid`` shows it)."""
    pid: int
    token: str

    @classmethod
    def of_this_process(cls) -> WorkerIdentity:
        """A new identity for a worker of this process."""
        namespace, pid, token = _pid_namespace(), os.getpid(), secrets.token_hex(_TOKEN_HEX // 2)
        room = MAX_ID_LENGTH - len(f":{namespace}:{pid}:{token}")
        return cls(_short_host(socket.gethostname(), room), namespace, pid, token)

    @classmethod
    def parse(cls, text: str | None) -> WorkerIdentity | None:
        """A worker id as ``str()`` writes it; None for anything else (ids of older servers)."""
        match = _ID.match(text or "")
        if match is None:
            return None
        return cls(match["host"], match["namespace"], int(match["pid"]), match["token"])

    def __str__(self) -> str:
        return f"{self.host}:{self.namespace}:{self.pid}:{self.token}"

    @property
    def place(self) -> str:
        """What the ids of every worker sharing this process table start with."""
        return f"{self.host}:{self.namespace}:"

    def proves_gone(self, lease_owner: str | None) -> bool:
        """Whether the worker ``lease_owner`` names is certainly dead: it ran here (same host, same
        process table) in a process that no longer exists. False whenever that cannot be known."""
        other = WorkerIdentity.parse(lease_owner)
        if other is None or other.place != self.place or other.pid == self.pid:
            return False
        return not process_exists(other.pid)


def process_exists(pid: int) -> bool:
    """Whether a process with this id exists here (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:  # 0 and negative ids name process groups for kill(): never "gone"
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, run by another user
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return False
    return bool(fields) and fields[0] in (b"Z", b"X")


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return UNKNOWN_NAMESPACE


def _short_host(name: str, room: int) -> str:
    """The host name in ``room`` characters: as it is when it fits, else its start, ``~`` and a hash
    of the whole name, so that two long names that share their start still differ."""
    host = _NOT_IN_HOST.sub("_", name) or "localhost"
    if len(host) <= room:
        return host
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_HEX]
    return f"{host[: room - _HASH_HEX - 1]}~{digest}"
