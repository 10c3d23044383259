"""KnowRL pipeline library: one package per stage, pure Python, no orchestrator import."""

STAGES: tuple[str, ...] = ("data", "knowledge", "sft", "grpo", "evaluate", "publish")

__version__ = "0.1.0"
