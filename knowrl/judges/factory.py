"""Build the judges a recipe names; the one place that maps config names to classes. An LLM role (judge, extractor,
verifier) is one class over a chat transport: `openai` (an endpoint) or `hf` (a local model)."""

from __future__ import annotations

from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.errors import ConfigError
from knowrl.judges.base import FactExtractor, FactVerifier, Judge
from knowrl.judges.llm import ChatTransport, LLMExtractor, LLMJudge, LLMVerifier
from knowrl.judges.prompts import Template, extraction_template, grader_template
from storage.llm_cache import LLMCache


def chat_transport(
    backend: str, endpoint: EndpointConfig, hf_model: str | None, cache: LLMCache | None, max_tokens: int, role: str
) -> ChatTransport:
    """An endpoint's client (`openai`) or a local causal LM (`hf`, which needs `hf_model`)."""
    if backend == "openai":
        from knowrl.transport.openai_chat import ChatClient

        return ChatClient(endpoint, cache, max_tokens=max_tokens)
    if not hf_model:
        raise ConfigError(f"{role}.backend=hf needs {role}.hf_model (a Hub id or local path of a chat model)")
    from knowrl.transport.local_chat import LocalChatModel

    return LocalChatModel(hf_model, cache, max_new_tokens=max_tokens)


def build_judge(cfg: JudgeConfig, cache: LLMCache | None = None, template: Template | None = None) -> Judge:
    """`template` replaces the grading prompt of an LLM judge (the rules judge has none)."""
    if cfg.backend == "rules":
        from knowrl.judges.rules import RulesJudge

        return RulesJudge(cfg)
    transport = chat_transport(cfg.backend, cfg.endpoint, cfg.hf_model, cache, cfg.max_tokens, "judge")
    return LLMJudge(transport, template or grader_template(cfg.prompt_file))


def build_extractor(cfg: ExtractorConfig, cache: LLMCache | None = None) -> FactExtractor:
    if cfg.backend == "rules":
        from knowrl.judges.rules import RulesExtractor

        return RulesExtractor(cfg)
    transport = chat_transport(cfg.backend, cfg.endpoint, cfg.hf_model, cache, cfg.max_tokens, "extractor")
    return LLMExtractor(transport, extraction_template(cfg.prompt_file), cfg.max_facts)


def build_verifier(cfg: VerifierConfig, cache: LLMCache | None = None) -> FactVerifier:
    if cfg.backend == "lexical":
        from knowrl.judges.rules import LexicalVerifier

        return LexicalVerifier(cfg)
    if cfg.backend == "openai":
        return LLMVerifier(chat_transport("openai", cfg.endpoint, None, cache, 16, "verifier"))
    from knowrl.judges.nli import NLIVerifier

    return NLIVerifier(cfg, cache)
