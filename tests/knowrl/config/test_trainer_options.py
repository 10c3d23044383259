"""TRL's option names read from source, and the AST race of CPython 3.11 (python/cpython#106905) survived."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from knowrl.config import trainer_options
from knowrl.config.trainer_options import trainer_option_names


def test_grpo_and_sft_options_include_their_own_and_the_training_arguments() -> None:
    assert {"num_generations", "beta", "learning_rate", "output_dir"} <= trainer_option_names("grpo")
    assert {"max_length", "learning_rate"} <= trainer_option_names("sft")


def _flaky_parse(monkeypatch: pytest.MonkeyPatch, message: str, failures: int) -> list[int]:
    calls = [0]
    real = ast.parse

    def parse(*args, **kwargs):
        calls[0] += 1
        if calls[0] <= failures:
            raise SystemError(message)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_options.ast, "parse", parse)
    return calls


def test_a_parse_that_races_another_thread_is_tried_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("class A:\n    x: int = 1\n")
    calls = _flaky_parse(monkeypatch, "AST constructor recursion depth mismatch (before=69, after=96)", failures=2)
    tree = trainer_options._parse.__wrapped__(source)
    assert calls[0] == 3 and isinstance(tree.body[0], ast.ClassDef)


def test_other_system_errors_and_a_race_that_never_ends_are_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    calls = _flaky_parse(monkeypatch, "something else", failures=1)
    with pytest.raises(SystemError, match="something else"):
        trainer_options._parse.__wrapped__(source)
    assert calls[0] == 1
    calls = _flaky_parse(monkeypatch, "AST constructor recursion depth mismatch", failures=100)
    with pytest.raises(SystemError, match="recursion depth mismatch"):
        trainer_options._parse.__wrapped__(source)
    assert calls[0] == trainer_options._PARSE_ATTEMPTS
