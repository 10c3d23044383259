"""The one error base of the pipeline, here in the lowest layer so that storage and the library share it.

Every error raised on purpose is a `KnowrlError` whose message names the offending value and the fix; its
`transient` flag says whether the same call may succeed later (a busy warehouse, an unreachable service), which is
all the task layer reads to decide on a retry. `knowrl.errors` re-exports it with the library's subclasses.
"""

from __future__ import annotations


class KnowrlError(Exception):
    """Base of the pipeline's own errors. `transient=True`: the same call may succeed later."""

    transient: bool = False

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient
