"""Local file helpers shared by the artifact store and the checkpoint mirror: content hashes, verification, and
temporary directories that say which process owns them.

Temporary directories are named `<prefix>.<host>.<pid>.<random>`; `sweep_temporaries` removes those whose process on
this host is gone (a crashed build or download) and leaves any other name alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import uuid
from pathlib import Path

log = logging.getLogger("knowrl.storage")

_CHUNK = 1 << 20
_TMP_NAME = re.compile(r"^(?P<prefix>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{32})$")


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(directory: Path, leave_out: str = "") -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file under `directory` (less any file named `leave_out`)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != leave_out)
    return {p.relative_to(directory).as_posix(): hash_file(p) for p in files}


def content_id(hashes: dict[str, str]) -> str:
    """The id of a set of files: a hash of their names and content hashes."""
    digest = hashlib.sha256()
    for name, file_hash in sorted(hashes.items()):
        digest.update(f"{name}\0{file_hash}\n".encode())
    return digest.hexdigest()


def mismatched_files(directory: Path, expected: dict[str, str], leave_out: str = "") -> list[str]:
    """Names of files that are missing, extra or changed in `directory` compared with `expected` hashes."""
    changed = set(file_hashes(directory, leave_out).items()) ^ set(expected.items())
    return sorted({name for name, _ in changed})


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def temp_name(prefix: str) -> str:
    """A temporary directory name that says which process owns it (so a sweep can tell a crashed one)."""
    return f"{prefix}.{_host_tag()}.{os.getpid()}.{uuid.uuid4().hex}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def sweep_temporaries(directory: Path) -> list[Path]:
    """Remove temporary directories under `directory` whose owner process on this host has exited."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    host = _host_tag()
    for path in directory.iterdir():
        match = _TMP_NAME.match(path.name)
        if not match or match["host"] != host or _pid_alive(int(match["pid"])):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            log.warning("could not remove the temporary %s of exited process %s", path, match["pid"])
        else:
            log.info("removed %s, left by process %s which exited mid-build", path, match["pid"])
            removed.append(path)
    return removed
