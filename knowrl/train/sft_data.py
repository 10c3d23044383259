"""Cold-start conversations as token ids with the loss mask built here, for any chat template.

KnowRL's cold start teaches the whole assistant text, `<think>...</think>` and `<answer>...</answer>`. TRL's
`assistant_only_loss` needs a template with `{% generation %}` markers, and a template such as
DeepSeek-R1-Distill's drops the reasoning when it renders an assistant turn (it keeps only the text after `</think>`),
so the stage renders each example itself:
- the prompt (system turn, if any, and the user turn) through the template, with its generation prompt;
- then the assistant's whole text, less what the generation prompt already opened (R1's opens `<think>\\n`), and the
  template's end of an assistant turn (found by rendering a probe turn);
and the loss covers exactly the assistant's text and that end. `chat_template: chatml` renders ChatML instead
(LLaMA-Factory's `qwen` template, with which the authors ran their cold start) whatever the tokenizer's template.
The stage reports what it used (`TemplateUse`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from knowrl.method.prompts import SYSTEM_PROMPT
from knowrl.train.config import SFTStageConfig

# LLaMA-Factory's `qwen` template (src/llamafactory/data/template.py, mid-2025): ChatML turns, no BOS, and Qwen's
# default system prompt when a conversation has none (the authors' cold-start rows have none).
CHATML_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
_PROBE = "KNOWRL-PROBE-7c1f"


@dataclass(frozen=True)
class TemplateUse:
    """Which template rendered the training examples, and what it does to an assistant turn."""

    chat_template: str  # model | chatml
    system: str  # the system turn's text, "" for none
    template_keeps_reasoning: bool  # the model's template renders an assistant turn's <think> part
    template_has_generation_markers: bool
    opened_by_generation_prompt: str  # what the generation prompt already writes of the assistant's turn
    turn_end: str  # what follows an assistant turn's text (its end token(s))
    loss_mask: str = "built by knowrl: the assistant's whole text and the turn's end"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _system(cfg: SFTStageConfig) -> str:
    if cfg.system_prompt == "method":
        return SYSTEM_PROMPT
    if cfg.system_prompt == "default" and cfg.chat_template == "chatml":
        return CHATML_DEFAULT_SYSTEM
    return ""  # none; or the model's template's own default, which it adds by itself


def _model_turn_end(tokenizer: Any) -> str:
    """What the model's template writes after an assistant turn's content, up to and including the end-of-turn
    token the model must learn to emit (anything the template writes after it, a newline, is never generated)."""
    probe = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}]
    rendered = tokenizer.apply_chat_template(probe, tokenize=False)
    if _PROBE not in rendered:
        raise ValueError(
            "the model's chat template does not render an assistant turn's text; set sft.chat_template: chatml"
        )
    after = rendered.split(_PROBE, 1)[1]
    eos = tokenizer.eos_token or ""
    return after[: after.index(eos) + len(eos)] if eos and eos in after else after


def template_use(tokenizer: Any, cfg: SFTStageConfig) -> TemplateUse:
    if cfg.chat_template == "chatml":
        return TemplateUse("chatml", _system(cfg), True, False, "", "<|im_end|>\n")
    template = tokenizer.chat_template or ""
    reasoning = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": f"<think>\n{_PROBE}\n</think>\n\n<answer>a</answer>"},
    ]
    keeps = _PROBE in tokenizer.apply_chat_template(reasoning, tokenize=False)
    opened = prompt_text(tokenizer, "q", cfg).rsplit("q", 1)[-1]
    generation_prompt_tail = next((t for t in ("<think>\n", "<think>") if opened.endswith(t)), "")
    return TemplateUse(
        "model",
        _system(cfg),
        keeps,
        "{% generation %}" in template or "{%- generation %}" in template,
        generation_prompt_tail,
        _model_turn_end(tokenizer),
    )


def prompt_text(tokenizer: Any, question: str, cfg: SFTStageConfig) -> str:
    """A question as the SFT stage renders it, up to where the assistant's text begins (also what the format
    probe samples from)."""
    system = _system(cfg)
    if cfg.chat_template == "chatml":
        head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        return f"{head}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": question})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def tokenized_example(tokenizer: Any, question: str, response: str, cfg: SFTStageConfig, use: TemplateUse) -> dict:
    """`input_ids` and `assistant_masks` (1 on the assistant's text and the turn's end) of one conversation."""
    prompt = prompt_text(tokenizer, question, cfg)
    completion, tag = response, use.opened_by_generation_prompt.strip()
    if tag and response.startswith(tag):  # the generation prompt already wrote it: the model continues after it
        completion = response[len(tag) :]
        if use.opened_by_generation_prompt.endswith("\n"):
            completion = completion.removeprefix("\n")
    # The template writes its own BOS (or none): the text is tokenized without adding one.
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion + use.turn_end, add_special_tokens=False)["input_ids"]
    return {
        "input_ids": prompt_ids + completion_ids,
        "assistant_masks": [0] * len(prompt_ids) + [1] * len(completion_ids),
    }
