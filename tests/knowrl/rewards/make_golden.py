"""Generate golden reward cases by running the KnowRL authors' own reward code.

The expected values in ``golden_rewards.json`` are not re-implemented here: they come from executing the pure
parts of the authors' reward functions (their regexes, grade mapping, fact parsing and score arithmetic) from a
checkout of https://github.com/zjunlp/KnowRL. Everything that would touch the network, a GPU model or the disk is
replaced by a stub before their modules are imported:

- ``openai``, ``zhipuai``, ``api_client_manager`` (API clients), ``nltk`` (its import-time ``punkt`` download),
  ``torch`` and ``transformers`` (only used by the NLI model, which is stubbed) become empty stand-in modules;
- ``save_json_output`` (writes ``reward_outputs/...``) is replaced by a recorder in every module that imported it;
- the judge LLM is a fake client whose reply text we choose; the atomic-fact extractor is a fake LM whose reply we
  choose; retrieval returns one fixed passage; the NLI check returns the support flag we choose per fact;
- classes whose ``__init__`` does network or model work are built with ``object.__new__`` and given the attributes
  their methods read.

What is run, per section of the JSON:

- ``completions``: ``format_reward_func([c])``; ``llm_eval_reward_func`` (the judge call itself is intercepted to
  record the answer text it would send); ``FactualityScorer.factuality_count_reward_func`` (the FactScorer is a
  recorder of the generation text it would score);
- ``judge_replies``: ``RewardEvaluator.get_score`` with a fake client returning the reply;
- ``fact_parsing``: ``AtomicFactGenerator.parse_atomic_facts_response``;
- ``factuality``: ``FactScorer.get_score`` on one generation, exactly as ``factuality_count_reward_func`` calls it
  (gamma=10, use_nli=True, count_supported=False), through the real ``AtomicFactGenerator.run`` and ``_get_score``;
- ``combined``: ``CombinedScorer._merge_results``.

Run it (from the project root) against a checkout or an exported archive of the authors' repository::

    mkdir -p /tmp/knowrl-authors
    git --git-dir=/path/to/KnowRL.git archive HEAD | tar -x -C /tmp/knowrl-authors
    .venv/bin/python tests/knowrl/rewards/make_golden.py --authors /tmp/knowrl-authors

``--authors`` defaults to the environment variable ``KNOWRL_AUTHORS_REPO``. The golden file in this folder was
generated against commit f75b0bb0c316668b2108bf97c96efbb5c8c4083b of zjunlp/KnowRL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

AUTHORS_REPO = "zjunlp/KnowRL"
AUTHORS_COMMIT = "f75b0bb0c316668b2108bf97c96efbb5c8c4083b"
DEFAULT_OUT = Path(__file__).resolve().parent / "golden_rewards.json"

# ---------------------------------------------------------------------------------------------------------------
# Stubs
# ---------------------------------------------------------------------------------------------------------------


class _Anything:
    """Stand-in for any name a stubbed module exports (classes, functions): callable, with any attribute."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Anything:
        return _Anything()

    def __getattr__(self, name: str) -> _Anything:
        return _Anything()


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()


class _ApiClientManager:
    """Stub of train/api_client_manager.ApiClientManager (module-level ``get_instance()`` in correct_reward)."""

    @classmethod
    def get_instance(cls) -> _ApiClientManager:
        return cls()

    def get_client(self, **kwargs: Any) -> None:
        return None

    def execute_request(self, make_request: Any) -> Any:
        return make_request()


def install_stub_modules() -> None:
    for name in ("openai", "zhipuai", "torch", "transformers", "nltk", "nltk.tokenize"):
        sys.modules[name] = _StubModule(name)
    sys.modules["nltk"].tokenize = sys.modules["nltk.tokenize"]
    manager = types.ModuleType("api_client_manager")
    manager.ApiClientManager = _ApiClientManager
    sys.modules["api_client_manager"] = manager


SAVED_OUTPUTS: list[tuple[str, dict]] = []


def _record_json_output(data: dict, function_name: str, sample_index: int | None = None) -> str:
    SAVED_OUTPUTS.append((function_name, data))
    return "<not written>"


class _Message:
    def __init__(self, content: str | None) -> None:
        self.content = content


class _Choice:
    def __init__(self, content: str | None) -> None:
        self.message = _Message(content)


class _Response:
    def __init__(self, content: str | None) -> None:
        self.choices = [_Choice(content)]


class FakeJudgeClient:
    """An OpenAI-like client whose chat completion always replies ``reply``."""

    def __init__(self, reply: str | None) -> None:
        self.reply = reply
        self.chat = types.SimpleNamespace(completions=types.SimpleNamespace(create=self._create))

    def _create(self, **kwargs: Any) -> _Response:
        return _Response(self.reply)


class FakeExtractorLM:
    """Stands in for FActScore's OpenAIModel inside AtomicFactGenerator: replies ``reply`` to every prompt."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def generate_batch(self, prompt_batch: list[str], chunk_size: int = 10) -> list[tuple[str, None]]:
        return [(self.reply, None) for _ in prompt_batch]

    def save_cache(self) -> None:
        pass


class FakeRetrieval:
    def get_passages(self, topic: str, question: str, k: int = 5) -> list[dict]:
        return [{"title": topic, "text": "<s>A fixed passage about the topic.</s>"}]

    def save_cache(self) -> None:
        pass


class RecordingFactScorer:
    """Replaces FactScorer inside FactualityScorer: records the generation texts it is asked to score."""

    def __init__(self) -> None:
        self.generations: list[str] = []

    def get_score(self, topics: list[str], generations: list[str], **kwargs: Any) -> list[dict]:
        self.generations.extend(generations)
        return [{"score": 0.0} for _ in generations]


# ---------------------------------------------------------------------------------------------------------------
# Importing the authors' code
# ---------------------------------------------------------------------------------------------------------------


def import_authors(authors: Path) -> types.SimpleNamespace:
    train_dir = authors / "train"
    if not (train_dir / "reward_function" / "format_reward.py").is_file():
        raise SystemExit(f"{authors} does not look like a KnowRL checkout (no train/reward_function)")
    install_stub_modules()
    # The authors import their package as ``reward_function`` from train/ (fact_reward.py appends train/ itself).
    sys.path.insert(0, str(train_dir))
    import reward_function
    from reward_function import combined_reward, correct_reward, fact_reward, format_reward, reward_utils
    from reward_function.FActScore.factscore import atomic_fact_generator, factscorer

    for module in (reward_utils, format_reward, correct_reward, fact_reward, combined_reward, reward_function):
        if hasattr(module, "save_json_output"):
            module.save_json_output = _record_json_output
    return types.SimpleNamespace(
        format_reward=format_reward,
        correct_reward=correct_reward,
        fact_reward=fact_reward,
        combined_reward=combined_reward,
        atomic_fact_generator=atomic_fact_generator,
        factscorer=factscorer,
    )


def authors_commit(authors: Path, fallback: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(authors), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return fallback
    return out.stdout.strip() or fallback


# ---------------------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------------------

R = "The capital of France is Paris, which has been its capital for centuries."
LONG_REASONING = "\n".join(
    f"Step {i}: the capital of France has been Paris since the Capetian kings; checking it again." for i in range(120)
)

# (id, note, completion)
COMPLETIONS: list[tuple[str, str, str]] = [
    ("canonical", "well-formed, newline after each tag", f"<think>\n{R}\n</think>\n<answer>Paris</answer>"),
    ("compact", "well-formed, no whitespace between tags", f"<think>{R}</think><answer>Paris</answer>"),
    (
        "spaces-inside-tags",
        "spaces padding reasoning and answer",
        f"<think>   {R}   </think>   <answer>   Paris   </answer>",
    ),
    ("crlf", "Windows line endings around tags", f"<think>\r\n{R}\r\n</think>\r\n<answer>\r\nParis\r\n</answer>"),
    ("tabs", "tabs around tags", f"<think>\t{R}\t</think>\t<answer>\tParis\t</answer>"),
    ("blank-lines", "blank lines between blocks", f"<think>\n\n{R}\n\n</think>\n\n\n<answer>\n\nParis\n\n</answer>"),
    (
        "template-opened-think",
        "no leading <think>: the chat template opened it",
        f"\n{R}\n</think>\n<answer>Paris</answer>",
    ),
    ("template-opened-compact", "no leading <think>, no whitespace", f"{R}</think><answer>Paris</answer>"),
    ("leading-space-before-think", "spaces before <think>", f"  <think>{R}</think><answer>Paris</answer>"),
    ("leading-newline-before-think", "newline before <think>", f"\n<think>{R}</think>\n<answer>Paris</answer>"),
    ("double-open-think", "<think><think> at the start", f"<think><think>{R}</think><answer>Paris</answer>"),
    ("trailing-newline", "one newline after </answer>", f"<think>{R}</think>\n<answer>Paris</answer>\n"),
    ("trailing-two-newlines", "two newlines after </answer>", f"<think>{R}</think>\n<answer>Paris</answer>\n\n"),
    ("trailing-spaces", "spaces after </answer>", f"<think>{R}</think>\n<answer>Paris</answer>   "),
    ("trailing-space-newline", "space then newline after </answer>", f"<think>{R}</think>\n<answer>Paris</answer> \n"),
    (
        "trailing-eos-token",
        "an end-of-turn token after </answer>",
        f"<think>{R}</think>\n<answer>Paris</answer><|im_end|>",
    ),
    ("text-after-answer", "prose after </answer>", f"<think>{R}</think>\n<answer>Paris</answer>\nHope this helps!"),
    (
        "stray-close-think",
        "a second </think> inside the reasoning",
        f"<think>{R}</think> On reflection, yes.</think>\n<answer>Paris</answer>",
    ),
    (
        "nested-think",
        "a nested <think>...</think> inside the reasoning",
        f"<think>{R} <think>inner thought</think> done.</think>\n<answer>Paris</answer>",
    ),
    (
        "nested-think-template-opened",
        "nested <think> with the opening tag left to the template",
        f"{R} <think>inner thought</think>\n<answer>Paris</answer>",
    ),
    (
        "answer-in-reasoning",
        "an <answer> block inside the reasoning",
        f"<think>Maybe <answer>Lyon</answer>? No, {R}</think>\n<answer>Paris</answer>",
    ),
    (
        "answer-open-in-reasoning",
        "an unclosed <answer> inside the reasoning",
        f"<think>I will write <answer> later. {R}</think>\n<answer>Paris</answer>",
    ),
    ("unclosed-answer", "<answer> never closed", f"<think>{R}</think>\n<answer>Paris"),
    ("no-close-think", "</think> missing", f"<think>{R}\n<answer>Paris</answer>"),
    ("close-think-with-space", "</think > is not </think>", f"<think>{R}</think >\n<answer>Paris</answer>"),
    (
        "two-answer-blocks",
        "two answer blocks back to back",
        f"<think>{R}</think>\n<answer>Paris</answer><answer>Lyon</answer>",
    ),
    (
        "two-answer-blocks-newline",
        "two answer blocks on separate lines",
        f"<think>{R}</think>\n<answer>Paris</answer>\n<answer>Lyon</answer>",
    ),
    ("nested-answer-open", "<answer><answer>Paris</answer>", f"<think>{R}</think>\n<answer><answer>Paris</answer>"),
    ("close-answer-twice", "</answer> appears twice", f"<think>{R}</think>\n<answer>Paris</answer> really </answer>"),
    (
        "think-inside-answer",
        "a <think> block inside the answer",
        f"<think>{R}</think>\n<answer>Paris <think>sure?</think></answer>",
    ),
    ("empty-reasoning", "<think></think>", "<think></think>\n<answer>Paris</answer>"),
    ("whitespace-reasoning", "reasoning is only whitespace", "<think>\n  \n</think>\n<answer>Paris</answer>"),
    ("empty-reasoning-template-opened", "only </think> before the answer", "</think>\n<answer>Paris</answer>"),
    ("one-char-reasoning", "single-character reasoning and answer", "<think>x</think><answer>y</answer>"),
    ("empty-answer", "<answer></answer>", f"<think>{R}</think>\n<answer></answer>"),
    ("whitespace-answer", "answer is only whitespace", f"<think>{R}</think>\n<answer>  \n\t </answer>"),
    (
        "refusal",
        "refusal answer",
        "<think>\nI am not sure which city it is.\n</think>\n<answer>I don't know.</answer>",
    ),
    (
        "refusal-long",
        "a longer refusal",
        "<think>No recollection.</think><answer>I cannot answer this question.</answer>",
    ),
    ("multiline-answer", "newlines inside the answer", f"<think>{R}</think>\n<answer>\nParis,\nFrance\n</answer>"),
    (
        "answer-with-blank-line",
        "a blank line inside the answer",
        f"<think>{R}</think>\n<answer>Paris\n\nIt is in France.</answer>",
    ),
    (
        "chinese",
        "Chinese reasoning and answer",
        "<think>\n法国的首都是巴黎，巴黎位于塞纳河畔。\n</think>\n<answer>巴黎</answer>",
    ),
    (
        "emoji-answer",
        "non-ASCII symbols in the answer",
        f"<think>{R}</think>\n<answer>Paris 🇫🇷 — “la Ville Lumière”</answer>",
    ),
    (
        "long-reasoning",
        "very long reasoning (120 lines, ~11 kB)",
        f"<think>\n{LONG_REASONING}\n</think>\n<answer>Paris</answer>",
    ),
    (
        "text-between-think-and-answer",
        "prose between </think> and <answer>",
        f"<think>{R}</think>\nSo the final answer is:\n<answer>Paris</answer>",
    ),
    ("uppercase-answer-tags", "<Answer>...</Answer>", f"<think>{R}</think>\n<Answer>Paris</Answer>"),
    ("uppercase-think-tags", "<THINK>...</THINK>", f"<THINK>{R}</THINK>\n<answer>Paris</answer>"),
    (
        "angle-brackets-in-reasoning",
        "< and > in the reasoning",
        "<think>if x < 3 and y > 2 then x = 2</think>\n<answer>x = 2</answer>",
    ),
    ("only-answer-block", "a completion that is only an answer block", "<answer>Paris</answer>"),
    ("answer-before-think", "answer block first, then reasoning", f"<answer>Paris</answer>\n<think>{R}</think>"),
    ("only-think-block", "reasoning only, no answer", f"<think>{R}</think>"),
    ("text-then-answer", "no </think>, prose then an answer", f"{R}\n<answer>Paris</answer>"),
    ("plain-text", "no tags at all", R),
    ("empty", "empty completion", ""),
    ("whitespace-only", "only whitespace", "  \n\t\n"),
]

JUDGE_REPLIES: list[str] = [
    "A",
    "B",
    "C",
    "a",
    "b",
    "c",
    "CORRECT",
    "INCORRECT",
    "NOT_ATTEMPTED",
    "not attempted",
    "Correct",
    "incorrect.",
    "Not_Attempted",
    "The answer is B",
    "Grade: C",
    "Answer: B",
    "<answer>A</answer>",
    "<answer>B</answer>",
    "<answer>C</answer>",
    "<answer>NOT_ATTEMPTED</answer>",
    "<answer>maybe</answer> B",
    "<answer>unsure</answer>",
    "A: CORRECT",
    "B - incorrect",
    "C (NOT_ATTEMPTED)",
    "This is a tricky one. B",
    "I would say A.",
    "I'd grade this as a C",
    "Incorrect, but a good try",
    "B. The model named a different city.",
    "C. The model didn't answer",
    "",
    "D",
    "NOT_ATTEMPTED because the model refused",
    "The predicted answer is correct",
    "The predicted answer is not correct",
    "The predicted answer is incorrect",
    "CORRECTLY ANSWERED",
    "B/C",
    "  A  ",
    "\nB\n",
    "\n\n  C\n",
    "\t incorrect \n",
    "A\n\nExplanation: the prediction matches the gold target.",
    "B\nNote: an A-grade attempt, but wrong.",
]

FACT_RESPONSES: list[str | None] = [
    "- Paris is the capital of France.\n- Paris lies on the Seine.\n- The Eiffel Tower is in Paris.",
    "- Paris.\n- It is big.\n- Capital city.\n- Paris hosts the Louvre museum.",
    "- Paris is the capital of France.\n- paris is the capital of france.\n- PARIS IS THE CAPITAL OF FRANCE.",
    "* Paris is the capital of France.\n- Paris lies on the Seine.\n• The Louvre is in Paris.",
    "1. Paris is the capital of France.\n2) Paris lies on the Seine.\n- The Louvre is in Paris.",
    "NON_FACTUAL: The text contains no factual statements.",
    "- Paris is the capital of France.\nNON_FACTUAL: the rest is opinion.\n- Paris lies on the Seine.",
    "- Paris is the capital of France.\n- NON_FACTUAL: nothing else here.",
    "Here are the facts: NON_FACTUAL: none",
    "non_factual: lowercase marker\n- Paris is the capital of France.",
    "NON_FACTUAL without a colon\n- Paris is the capital of France.",
    "",
    "   \n  \n",
    None,
    "   - Indented bullet is still a fact.\n\t- Tabbed bullet is a fact too.",
    "-No space after the dash here.\n–  En dash bullet is here.\n—  Em dash bullet is here.",
    "-    Extra spaces after the dash are stripped.   ",
    "- Paris is the capital of France.\r\n- Paris lies on the Seine.\r\n",
    "- 巴黎是法国的首都。\n- 巴黎 是 法国 首都\n- Paris is 法国的首都.",
    "- - Nested dash bullet stays a fact.",
    "Facts:\n\n- Paris is the capital of France.\n\nThat is all.",
    "- Paris is the capital of France.\n-  Paris is the capital of France.\n- Paris is the capital of France. ",
    "-\n- \n- Three word fact.",
]


def _facts(n: int) -> list[str]:
    return [f"Fact number {i + 1} is stated in the generation." for i in range(n)]


def _pattern(n: int, supported: int) -> list[bool]:
    """``supported`` True flags spread over ``n`` facts (every other one first), deterministic."""
    order = list(range(0, n, 2)) + list(range(1, n, 2))
    chosen = set(order[:supported])
    return [i in chosen for i in range(n)]


# (extractor reply, per-fact support flags); the facts are whatever the authors' parser makes of the reply.
FACTUALITY: list[tuple[str, list[bool]]] = [
    ("", []),
    ("NON_FACTUAL: The text contains no factual statements.", []),
    ("- Paris is the capital of France.\nNON_FACTUAL: the rest is opinion.", []),
]
for _n, _supported in [
    (1, 1), (1, 0), (2, 1), (2, 2), (5, 3), (9, 9), (9, 0), (9, 4), (10, 10), (10, 0), (10, 7),
    (11, 11), (11, 0), (11, 4), (15, 15), (15, 0), (15, 6), (20, 5),
]:  # fmt: skip
    FACTUALITY.append(("\n".join(f"- {f}" for f in _facts(_n)), _pattern(_n, _supported)))
# a bullet that merely contains the marker is parsed as the single "fact" "- NON_FACTUAL: ..." and scored
FACTUALITY.append(("- Paris is the capital of France.\n- NON_FACTUAL: nothing else here.", [True]))
# duplicate facts (differing in case) are merged by the parser before scoring
FACTUALITY.append(
    ("- Paris is the capital of France.\n- PARIS IS THE CAPITAL OF FRANCE.\n- Paris lies on the Seine.", [True, False])
)

COMBINED: list[tuple[float, float, bool]] = []
for _llm in (2.0, 1.0, 0.0, -1.0):
    for _fact in (0.0, 0.4, 1.0):
        for _refusal in (False, True):
            COMBINED.append((_llm, _fact, _refusal))
COMBINED += [
    (-1.0, math.exp(1 - 10), False),
    (-1.0, math.exp(1 - 10 / 9), False),
    (-1.0, 0.75, False),
    (-1.0, 0.3636363636363636, False),
    (2.0, 0.75, False),
    (1.0, 0.75, True),
]


# ---------------------------------------------------------------------------------------------------------------
# Running the authors' functions
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _judge_recorder(correct_reward: types.ModuleType):
    """Intercept RewardEvaluator.get_score (the judge call) to record the answer text llm_eval would send."""
    sent: list[str] = []
    original = correct_reward.RewardEvaluator.get_score

    def record(self: Any, question: str, answer: str, best_answer: str | None = None, prompt_template: Any = None):
        sent.append(answer)
        return 2.0, "A"

    correct_reward.RewardEvaluator.get_score = record
    try:
        yield sent
    finally:
        correct_reward.RewardEvaluator.get_score = original


def run_completion(authors: types.SimpleNamespace, completion: str) -> dict:
    fmt = authors.format_reward.format_reward_func([completion])
    assert len(fmt) == 1

    SAVED_OUTPUTS.clear()
    with _judge_recorder(authors.correct_reward) as sent:
        rewards = authors.correct_reward.llm_eval_reward_func(["Q?"], [completion], ["Paris"])
    (entry,) = SAVED_OUTPUTS[-1][1]["llm_eval_results"]
    if sent:
        status, answer = "ok", sent[0]
        assert rewards == [2.0]
    else:
        status = {"answer tag not found": "missing", "empty content in answer tag": "empty"}[entry["error"]]
        answer = None
        assert rewards == [-1]

    scorer = object.__new__(authors.fact_reward.FactualityScorer)
    scorer.FACT_SCORER = RecordingFactScorer()
    scorer.factuality_count_reward_func(["Q?"], [completion])
    (fact_text,) = scorer.FACT_SCORER.generations

    return {"format_reward": float(fmt[0]), "answer_status": status, "answer": answer, "fact_text": fact_text}


def run_judge(authors: types.SimpleNamespace, reply: str) -> float:
    evaluator = object.__new__(authors.correct_reward.RewardEvaluator)
    evaluator.client = FakeJudgeClient(reply)
    evaluator.model_name = "stub-judge"
    evaluator.use_api_manager = False
    score, raw = evaluator.get_score("Q?", "Paris", "Paris")
    assert raw == reply.strip(), (raw, reply)
    return float(score)


def new_fact_generator(authors: types.SimpleNamespace, reply: str) -> Any:
    generator = object.__new__(authors.atomic_fact_generator.AtomicFactGenerator)
    generator.openai_lm = FakeExtractorLM(reply)
    generator.use_async = False
    generator.async_batch_size = 5
    return generator


def run_factuality(authors: types.SimpleNamespace, reply: str, support: list[bool]) -> dict:
    facts = new_fact_generator(authors, reply).parse_atomic_facts_response(reply)
    scored = [f for f in facts if not f.startswith("NON_FACTUAL:")]
    assert len(scored) == len(support) or not support, (facts, support)
    flags = dict(zip(scored, support, strict=False))

    fs = object.__new__(authors.factscorer.FactScorer)
    fs.verbose = False
    fs.use_nli = True
    fs.nli_model_name = "stub-nli"
    fs.nli_entailment_threshold = 0.3
    fs.abstain_detection_type = None
    fs.af_model_name = "ChatGPT"
    fs.af_generator = new_fact_generator(authors, reply)
    fs.retrieval = {"kb": FakeRetrieval()}
    fs.db_paths = {"kb": "/nonexistent/kb.db"}
    fs.lm = FakeExtractorLM("")
    fs._optimize_nli_model = lambda: None
    fs._is_fact_supported_by_text_nli_optimized = lambda atom, passage, **kw: (flags[atom], 0.9, passage)

    # The call factuality_count_reward_func makes.
    result = fs.get_score(
        topics=["Paris"],
        generations=["Some reasoning text."],
        gamma=10,
        use_nli=True,
        use_async_af_generation=False,
        count_supported=False,
    )
    assert isinstance(result, dict)  # one generation -> a dict, not a list
    decided = [bool(d["is_supported"]) for d in result["decisions"][0]]
    assert [d["atom"] for d in result["decisions"][0]] == (scored if decided else [])
    assert decided == (support if decided else []), (decided, support)
    return {"facts": facts, "supported": support, "score": float(result["score"])}


def run_combined(authors: types.SimpleNamespace, llm: float, fact: float, refusal: bool) -> float:
    scorer = object.__new__(authors.combined_reward.CombinedScorer)
    (reward,) = scorer._merge_results(["Q?"], ["completion"], [llm], [fact], [refusal])
    return float(reward)


def build(authors: types.SimpleNamespace, commit: str) -> dict:
    ids = [case_id for case_id, _, _ in COMPLETIONS]
    assert len(ids) == len(set(ids)), "duplicate completion ids"
    return {
        "source": {"repo": AUTHORS_REPO, "commit": commit},
        "completions": [
            {"id": case_id, "note": note, "completion": text, **run_completion(authors, text)}
            for case_id, note, text in COMPLETIONS
        ],
        "judge_replies": [{"reply": reply, "score": run_judge(authors, reply)} for reply in JUDGE_REPLIES],
        "fact_parsing": [
            {"response": response, "facts": new_fact_generator(authors, "").parse_atomic_facts_response(response)}
            for response in FACT_RESPONSES
        ],
        "factuality": [run_factuality(authors, reply, support) for reply, support in FACTUALITY],
        "combined": [
            {
                "llm_reward": llm,
                "fact_score": fact,
                "is_refusal": refusal,
                "reward": run_combined(authors, llm, fact, refusal),
            }
            for llm, fact, refusal in COMBINED
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--authors",
        default=os.environ.get("KNOWRL_AUTHORS_REPO"),
        help="checkout of zjunlp/KnowRL (default: $KNOWRL_AUTHORS_REPO)",
    )
    parser.add_argument(
        "--commit",
        default=AUTHORS_COMMIT,
        help="commit to record when --authors is not a git work tree (an exported archive)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output JSON (default: {DEFAULT_OUT.name})")
    args = parser.parse_args(argv)
    if not args.authors:
        parser.error("give --authors PATH or set KNOWRL_AUTHORS_REPO")
    authors_path = Path(args.authors).resolve()

    # Their modules print and log; keep our stdout for the summary.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        authors = import_authors(authors_path)
        golden = build(authors, authors_commit(authors_path, args.commit))
    args.out.write_text(json.dumps(golden, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    counts = ", ".join(f"{k}={len(v)}" for k, v in golden.items() if isinstance(v, list))
    print(f"wrote {args.out} ({counts})")


if __name__ == "__main__":
    main()
