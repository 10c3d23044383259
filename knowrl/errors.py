"""One error model: every error the pipeline raises on purpose is a `KnowrlError` whose message says what was
wrong (naming the offending value) and the fix, and whose `transient` flag says whether a retry can help.

Tasks retry transient failures only (a Hub or endpoint outage, a busy warehouse); a bad recipe, a bad input file
or a full disk fails at once. The CLI prints a `KnowrlError`'s message without a traceback (`--debug` shows it).
"""

from __future__ import annotations

import errno


class KnowrlError(Exception):
    """Base of the pipeline's own errors. `transient=True`: the same call may succeed later."""

    transient: bool = False

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient


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
    if type(exc).__name__ in ("WarehouseBusyError",):  # storage/ does not import knowrl: matched by name
        return True
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


def disk_full_message(exc: OSError, path: str | None = None) -> str | None:
    """A one-line message for a full disk, naming the path; None for other OS errors."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = path or exc.filename or "the output folder"
    return f"no space left on the device holding {where}: free space there or point KNOWRL_HOME at a larger disk"
