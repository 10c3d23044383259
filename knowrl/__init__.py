"""KnowRL pipeline library: one package per stage, pure Python, no orchestrator import."""

__version__ = "0.1.0"
