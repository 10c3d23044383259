"""One error model: every error the pipeline raises on purpose is a `KnowrlError` whose message says what was
wrong (naming the offending value) and the fix, and whose `transient` flag says whether a retry can help.

Tasks retry transient failures only (a Hub or endpoint outage, a busy warehouse); a bad recipe, a bad input file
or a full disk fails at once. The CLI prints a `KnowrlError`'s message without a traceback (`--debug` shows it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

# The base lives in storage/ (the lowest layer) so that storage's errors share it; the library imports it from here.
from storage.errors import KnowrlError


class ConfigError(KnowrlError, ValueError):
    """A recipe, an override or an option is invalid."""


class InputError(KnowrlError, ValueError):
    """An input (dataset, knowledge base, benchmark, model folder) is missing, unreadable or malformed."""


class DataQualityError(InputError):
    """The input was read but too little of it is usable (e.g. no accepted row)."""


class BackendError(KnowrlError):
    """A service the stage depends on (the Hub, a judge endpoint) failed; usually transient."""

    transient = True


class JudgeFailureRateError(KnowrlError):
    """Too many judge/extractor calls failed in a row of calls: training on the format reward alone is refused."""


# OS errors a retry cannot fix: the disk is full, a path is missing or not allowed.
_PERMANENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS}


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the failed stage can help."""
    if isinstance(exc, KnowrlError):
        return exc.transient
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OSError):
        return exc.errno not in _PERMANENT_ERRNOS and not isinstance(exc, FileNotFoundError | PermissionError)
    return False


def hub_failure_is_transient(exc: BaseException) -> bool:
    """A Hub download failure worth retrying: no connection, a timeout, HTTP 429 or 5xx (not a missing repo,
    file or revision, not a refused token, not offline mode)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return status == 429 or status >= 500
    name = type(exc).__name__
    if name in ("OfflineModeIsEnabled", "RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError"):
        return False
    return isinstance(exc, ConnectionError | TimeoutError) or "Connection" in name or "Timeout" in name


def _free_space(where: str | os.PathLike[str]) -> str:
    """' (N MiB free)' for the disk holding `where` (or its nearest existing parent); '' when it cannot be read."""
    path = Path(where)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return ""
    return f" ({free / 2**20:.1f} MiB free)"


def disk_full_message(exc: OSError, path: str | None = None) -> str | None:
    """A one-line message for a full disk, naming the path and the space left there; None for other OS errors."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = path or exc.filename
    if not where:
        return "no space left on the output disk: free space there or point KNOWRL_HOME at a larger disk"
    return (
        f"no space left on the device holding {where}{_free_space(where)}: free space there or point KNOWRL_HOME "
        "at a larger disk"
    )


# torch's checkpoint writer and safetensors report a full disk in their own words, as a RuntimeError or a
# SafetensorError, never as OSError(ENOSPC): "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"
# (torch.save: the file is shorter than what was written), "PytorchStreamWriter failed writing file data/0: file write
# failed", "Error while serializing: I/O error: No space left on device (os error 28)". Left as they are, they reach
# the user as an unexplained torch error, and a task retries them as if they were transient.
_DISK_FULL_WORDS = re.compile(
    r"unexpected pos \d+ vs \d+|file write failed|no space left on device|os error 28|disk quota exceeded"
    r"|os error 122",
    re.IGNORECASE,
)


def as_disk_full(exc: BaseException, path: str | os.PathLike[str]) -> OSError | None:
    """`exc` as an `OSError(ENOSPC)` naming `path` when it reports a full disk (in the words of the OS, torch or
    safetensors); None when it reports something else. An OSError that already says ENOSPC comes back as it is."""
    if isinstance(exc, OSError):
        return exc if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
    if not isinstance(exc, RuntimeError) and type(exc).__name__ != "SafetensorError":
        return None
    if not _DISK_FULL_WORDS.search(str(exc)):
        return None
    said = " ".join(str(exc).split())[:200]
    return OSError(errno.ENOSPC, f"No space left on device ({type(exc).__name__}: {said})", str(path))


@contextlib.contextmanager
def disk_full_as_oserror(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise a full disk reported by torch or safetensors while writing under `path` as `OSError(ENOSPC)` naming
    `path`: not transient (no retry), and one line in the CLI. Any other error passes through unchanged."""
    try:
        yield
    except Exception as exc:
        full = as_disk_full(exc, path)
        if full is None or full is exc:
            raise
        raise full from exc
