"""Build the backends a recipe names; the one place that maps config names to classes."""

from __future__ import annotations

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.base import FactExtractor, FactVerifier, Judge
from knowrl.judges.prompts import Template
from storage.llm_cache import LLMCache


def build_judge(cfg: JudgeConfig, cache: LLMCache | None = None, template: Template | None = None) -> Judge:
    """`template` replaces the grading prompt of an LLM judge (the rules judge has none)."""
    if cfg.backend == "rules":
        from knowrl.judges.rules import RulesJudge

        return RulesJudge(cfg)
    if cfg.backend == "openai":
        from knowrl.judges.openai_backends import OpenAIJudge

        return OpenAIJudge(cfg, cache, template)
    from knowrl.judges.hf_backends import HFJudge

    return HFJudge(cfg, cache, template)


def build_extractor(cfg: ExtractorConfig, cache: LLMCache | None = None) -> FactExtractor:
    if cfg.backend == "rules":
        from knowrl.judges.rules import RulesExtractor

        return RulesExtractor(cfg)
    if cfg.backend == "openai":
        from knowrl.judges.openai_backends import OpenAIExtractor

        return OpenAIExtractor(cfg, cache)
    from knowrl.judges.hf_backends import HFExtractor

    return HFExtractor(cfg, cache)


def build_verifier(cfg: VerifierConfig, cache: LLMCache | None = None) -> FactVerifier:
    if cfg.backend == "lexical":
        from knowrl.judges.rules import LexicalVerifier

        return LexicalVerifier(cfg)
    if cfg.backend == "openai":
        from knowrl.judges.openai_backends import OpenAIVerifier

        return OpenAIVerifier(cfg, cache)
    from knowrl.judges.hf_backends import NLIVerifier

    return NLIVerifier(cfg, cache)
