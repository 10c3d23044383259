"""Judges and verifiers behind interfaces: OpenAI-compatible HTTP, Hugging Face models, offline rules."""

from knowrl.judges.base import CallStats, FactExtractor, FactVerifier, Grade, Judge, JudgeItem
from knowrl.judges.factory import build_extractor, build_judge, build_verifier

__all__ = [
    "CallStats",
    "FactExtractor",
    "FactVerifier",
    "Grade",
    "Judge",
    "JudgeItem",
    "build_extractor",
    "build_judge",
    "build_verifier",
]
