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
    .venv/bin/python scripts/make_golden_rewards.py --authors /tmp/knowrl-authors

The cases are data, in ``tests/knowrl/rewards/golden_inputs.json``: add one there and re-run.

``--authors`` defaults to the environment variable ``KNOWRL_AUTHORS_REPO``. The golden file was
generated against commit f75b0bb0c316668b2108bf97c96efbb5c8c4083b of zjunlp/KnowRL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

AUTHORS_REPO = "zjunlp/KnowRL"
AUTHORS_COMMIT = "f75b0bb0c316668b2108bf97c96efbb5c8c4083b"
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "knowrl" / "rewards"
DEFAULT_INPUTS = GOLDEN_DIR / "golden_inputs.json"  # the cases: completions, replies, support patterns
DEFAULT_OUT = GOLDEN_DIR / "golden_rewards.json"

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


def build(authors: types.SimpleNamespace, commit: str, cases: dict[str, Any]) -> dict:
    """Every case of `cases` (golden_inputs.json) with what the authors' functions give for it."""
    ids = [case["id"] for case in cases["completions"]]
    assert len(ids) == len(set(ids)), "duplicate completion ids"
    return {
        "source": {"repo": AUTHORS_REPO, "commit": commit},
        "completions": [{**case, **run_completion(authors, case["completion"])} for case in cases["completions"]],
        "judge_replies": [{"reply": reply, "score": run_judge(authors, reply)} for reply in cases["judge_replies"]],
        "fact_parsing": [
            {"response": response, "facts": new_fact_generator(authors, "").parse_atomic_facts_response(response)}
            for response in cases["fact_responses"]
        ],
        "factuality": [run_factuality(authors, c["reply"], c["supported"]) for c in cases["factuality"]],
        "combined": [
            {**case, "reward": run_combined(authors, case["llm_reward"], case["fact_score"], case["is_refusal"])}
            for case in cases["combined"]
        ],
    }


def run_prefilter_2025_06(authors: types.SimpleNamespace, answer: str, gold: str) -> float:
    """June 2025's correctness of `<answer>{answer}</answer>` with the judge stubbed to grade A (2.0): -1 when their
    refusal patterns or keyword check settle it first, 2.0 when it reaches the judge."""
    SAVED_OUTPUTS.clear()
    completion = f"<think>r</think><answer>{answer}</answer>"
    with _judge_recorder(authors.correct_reward):
        (reward,) = authors.correct_reward.llm_eval_reward_func(["Q?"], [completion], [gold])
    return float(reward)


def run_count_factuality_2025_06(authors: types.SimpleNamespace, support: list[bool]) -> float:
    """June 2025's factuality of a reasoning whose facts have these support flags: FactScorer.get_score with
    count_supported=True (as factuality_count_reward_func calls it), then their min(count / 15, 1)."""
    facts = [f"Fact number {i + 1} is stated here." for i in range(len(support))]
    reply = "\n".join(f"- {f}" for f in facts)
    flags = dict(zip(facts, support, strict=True))
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
    # The June code's scorer keeps caches and counters its __init__ sets (later versions dropped them).
    fs.fact_counter, fs.deep_clean_interval, fs.max_cache_size = 0, 10**9, 10000
    fs.sentence_cache, fs.nli_cache, fs.cache_hits, fs.cache_misses = {}, {}, 0, 0
    result = fs.get_score(
        topics=["Paris"],
        generations=["Some reasoning text."],
        gamma=10,
        use_nli=True,
        use_async_af_generation=False,
        count_supported=True,
    )
    count = float(result["score"]) if support else 0.0
    return min(count / 15.0, 1.0)  # fact_reward.py's line after get_score


def build_2025_06(authors: types.SimpleNamespace, commit: str, cases: dict[str, Any]) -> dict:
    """June 2025's reward details (the `2025_06` cases of golden_inputs.json)."""
    june = cases["2025_06"]
    return {
        "source": {"repo": AUTHORS_REPO, "commit": commit},
        "prefilter": [
            {**c, "reward": run_prefilter_2025_06(authors, c["answer"], c["gold"])} for c in june["prefilter"]
        ],
        "judge_replies": [{"reply": reply, "score": run_judge(authors, reply)} for reply in june["judge_replies"]],
        "factuality": [
            {"supported": s, "score": run_count_factuality_2025_06(authors, s)} for s in june["factuality"]
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
    parser.add_argument("--inputs", type=Path, default=DEFAULT_INPUTS, help="the cases (golden_inputs.json)")
    parser.add_argument("--out", type=Path, default=None, help=f"output JSON (default: {DEFAULT_OUT.name})")
    parser.add_argument(
        "--version",
        choices=["2025-10", "2025-06"],
        default="2025-10",
        help="2025-10: v1.0.0 onwards (golden_rewards.json); 2025-06: the June 2025 reward details "
        "(golden_rewards_2025-06.json; run against commit cf76daf)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = DEFAULT_OUT if args.version == "2025-10" else GOLDEN_DIR / "golden_rewards_2025-06.json"
    if not args.authors:
        parser.error("give --authors PATH or set KNOWRL_AUTHORS_REPO")
    authors_path = Path(args.authors).resolve()

    # Their modules print and log; keep our stdout for the summary.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        authors = import_authors(authors_path)
        cases = json.loads(args.inputs.read_text(encoding="utf-8"))
        make = build if args.version == "2025-10" else build_2025_06
        golden = make(authors, authors_commit(authors_path, args.commit), cases)
    args.out.write_text(json.dumps(golden, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    counts = ", ".join(f"{k}={len(v)}" for k, v in golden.items() if isinstance(v, list))
    print(f"wrote {args.out} ({counts})")


if __name__ == "__main__":
    main()
