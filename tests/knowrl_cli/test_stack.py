"""`knowrl stack` reports a failed step at run time as a KnowrlError (one line), not as an invalid option."""

from __future__ import annotations

import os
import sys

import pytest

from knowrl.errors import KnowrlError
from knowrl_cli import stack


def test_a_failed_step_is_a_stack_error_naming_the_step() -> None:
    with pytest.raises(stack.StackError, match="work-pool create gpu failed") as info:
        stack._run([sys.executable, "-c", "import sys; sys.exit(3)", "work-pool", "create", "gpu"], dict(os.environ))
    assert isinstance(info.value, KnowrlError) and not info.value.transient
