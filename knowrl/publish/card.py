"""The model card: Hub metadata (model-index with the evaluation results) and a readable body."""

from __future__ import annotations

import json
from pathlib import PurePath, PureWindowsPath
from typing import Any

from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.repocard_data import EvalResult

from knowrl.method.prompts import SYSTEM_PROMPT, prompt_conversation

_TASK = "text-generation"


def eval_results(comparison: dict[str, dict[str, Any]]) -> list[EvalResult]:
    """The GRPO model's metrics, as Hub model-index entries."""
    results = []
    for bench, entry in comparison.items():
        for metric, row in entry["metrics"].items():
            results.append(
                EvalResult(
                    task_type=_TASK,
                    dataset_type=bench,
                    dataset_name=bench,
                    metric_type=metric,
                    metric_value=round(float(row["grpo"]), 4),
                )
            )
    return results


def redact_local_paths(value: Any) -> Any:
    """Absolute local paths (this machine's folders) become `local:<name>`: a model card is public."""
    if isinstance(value, dict):
        return {k: redact_local_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_local_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith(("/", "~")) or PureWindowsPath(value).drive):
        return f"local:{PurePath(value).name}"
    return value


def _data_row(name: str, part: dict[str, Any]) -> str:
    fields = ("source", "revision", "fingerprint", "n_accepted", "n_quarantined")
    return f"| {name} | " + " | ".join(str(part.get(f)) for f in fields) + " |"


def usage_section(repo_id: str, style: str) -> str:
    """How to prompt the model: the way it was trained (`grpo.prompt_style`), as text and as a runnable snippet."""
    messages, open_turn = prompt_conversation("{question}", style)
    render = "continue_final_message=True" if open_turn else "add_generation_prompt=True"
    how = {
        "system": f"with this system prompt:\n\n```text\n{SYSTEM_PROMPT}\n```",
        "user": "with the question alone as the user turn.",
        "user_prefill": "with a format instruction after the question and the start of its answer written for it "
        "(the prompt below).",
        "system_continue": "with the instruction as a system turn and the question as the user turn, the prompt "
        "ending right after the question (no assistant header), as the authors' November 2025 code renders it.",
    }[style]
    template = json.dumps(messages, ensure_ascii=False, indent=1)
    return f"""The model thinks inside `<think></think>` and answers inside `<answer></answer>`; when it does not know,
it answers `I don't know.` It was trained with prompts in the `{style}` style, {how}

```python
import json
import json
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo_id}")
model = AutoModelForCausalLM.from_pretrained("{repo_id}")
question = "Who discovered penicillin?"
messages = json.loads({template!r}.replace("{{question}}", question))
text = tokenizer.apply_chat_template(messages, tokenize=False, {render})
inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
output = model.generate(**inputs, max_new_tokens=512)
print(tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
```"""


def usage_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_not recorded_"
    lines = ["| role | backend | model | reported model | calls | cached | prompt tokens | completion tokens |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    lines += [
        f"| {r['role']} | {r['backend']} | {r['model']} | {r['reported_models']} | {r['calls']} | {r['cache_hits']} "
        f"| {r['prompt_tokens']} | {r['completion_tokens']} |"
        for r in rows
    ]
    return "\n".join(lines)


def build_card(
    *,
    repo_id: str,
    license: str,
    base_model: str,
    datasets: list[str],
    recipe_name: str,
    recipe_yaml: str,
    data: dict[str, Any],
    comparison: dict[str, dict[str, Any]],
    report_md: str,
    push: str,
    prompt_style: str = "system",
    training_usage: list[dict[str, Any]] | None = None,
) -> ModelCard:
    base_is_hub = "/" in base_model and not base_model.startswith(("/", ".", "builtin:"))
    card_data = ModelCardData(
        license=license,
        base_model=base_model if base_is_hub else None,
        datasets=list(dict.fromkeys(d for d in datasets if "/" in d and not d.startswith(("/", ".")))) or None,
        tags=["knowrl", "grpo", "factuality", "hallucination", "trl"],
        library_name="peft" if push == "adapter" else "transformers",
        pipeline_tag=_TASK,
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results(comparison) or None,
    )
    rl, cs = data.get("rl") or {}, data.get("coldstart") or {}
    body = f"""
# {repo_id.split("/")[-1]}

Trained with knowrl-pipeline using the KnowRL method (Ren et al., arXiv 2506.19807): cold-start
SFT, then GRPO with format, correctness and knowledge-grounded factuality rewards.

## Usage

{usage_section(repo_id, prompt_style)}

## Training data

| set | source | revision | fingerprint | rows accepted | rows quarantined |
|---|---|---|---|---|---|
{_data_row("RL", rl)}
{_data_row("cold start", cs)}

## Evaluation

![grades](grades.png)

{report_md.split(chr(10), 1)[1].strip()}

## Judges and verifier used in training

{usage_table(training_usage or [])}

## Recipe (`{recipe_name}`)

```yaml
{recipe_yaml.strip()}
```

## Limitations

- Factuality is rewarded against the knowledge base's passages of the question's own titles: claims outside
  those pages are not verified, and the knowledge base has its own errors and age.
- Fewer incorrect answers can come partly from more refusals: read the not-attempted rate beside the incorrect rate.
- Judged metrics depend on the judge used (shown in the recipe); rule-based judges are stricter than LLM judges.
"""
    return ModelCard(card_data.to_yaml().join(["---\n", "\n---\n"]) + body)
