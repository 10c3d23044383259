"""Score a batch of completions once for all rewards: judge grades, facts, retrieval, verification.

TRL calls each reward function in turn with the same completions; the scorer memoises each completion's
parts so format, correctness, factuality and combined share one set of calls. Everything the authors do
one completion (or one pair) at a time is batched here across the whole GRPO step: one judge batch, one
extraction batch, and retrieval and verification (in waves of batched NLI forwards) of the facts of whatever
extraction replies have arrived, while the others are still awaited.
"""

from __future__ import annotations

import queue
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from knowrl.errors import JudgeFailureRateError
from knowrl.hashing import stable_hash
from knowrl.judges.base import CallStats, FactExtractor, FactVerifier, Grade, Judge, JudgeItem
from knowrl.method.parsing import RewardView, reward_view
from knowrl.rewards import rules_2025_06 as june
from knowrl.rewards.arithmetic import GAMMA, combined_score, correctness_score, factuality_score, format_score
from knowrl.transport.cache import deferred_writes


@dataclass
class RewardParts:
    view: RewardView
    grade: Grade | None = None
    correctness: float | None = None
    judged: bool = False
    facts: list[str] | None = None
    supported: list[bool] | None = None
    factuality: float | None = None  # None until computed; a failed extraction or verification sets 0.0
    fact_check_failed: bool = False
    no_evidence: bool = False  # none of the question's titles is in the knowledge store
    extra: dict[str, Any] = field(default_factory=dict)  # memoised values of the rewards beyond KnowRL (family.py)

    @property
    def well_formed(self) -> bool:
        return self.view.well_formed

    @property
    def answer(self) -> str | None:
        return self.view.answer

    @property
    def format(self) -> float:
        return format_score(self.view.well_formed)

    @property
    def combined(self) -> float | None:
        return combined_score(self.correctness, self.factuality or 0.0)

    @property
    def n_facts(self) -> int:
        return len(self.facts or [])

    @property
    def n_supported(self) -> int:
        return sum(self.supported or [])

    @property
    def refusal(self) -> bool:
        return self.grade == Grade.NOT_ATTEMPTED


@dataclass(frozen=True)
class Question:
    """The dataset columns a reward reads for one completion."""

    text: str
    answers: tuple[str, ...]
    titles: tuple[str, ...]
    topic: str  # the question's title string as in the data (the authors' retrieval topic)

    @property
    def scope(self) -> list[str]:
        """Titles whose passages may be retrieved: each title, and the whole title string as one key (a KB built
        per question stores its pages under that string)."""
        return list(dict.fromkeys([*self.titles, self.topic]))


def _caches(*backends: Any) -> list[Any]:
    """The warehouse caches behind judging backends: a backend's own (the NLI verifier) or its transport's."""
    found = []
    for backend in backends:
        for holder in (backend, getattr(backend, "transport", None)):
            cache = getattr(holder, "cache", None)
            if cache is not None:
                found.append(cache)
    return found


@dataclass
class RewardScorer:
    judge: Judge
    extractor: FactExtractor
    verifier: FactVerifier
    store: Any  # KnowledgeStore: search_batch(queries, titles, k), covers(titles)
    top_k: int = 5
    threshold: float = 0.3
    gamma: int = GAMMA
    query: str = "topic_and_fact"  # or "fact"
    rules: str = "2025-10"  # the authors' reward details by version: 2025-06, or 2025-10 (v1.0.0 onwards)
    memo_size: int = 50_000
    # Abort when over the last `failure_window` judge (or extractor) outcomes more than this share failed:
    # training on the format reward alone while the endpoint is down wastes the run.
    failure_window: int = 20
    max_failure_rate: float = 0.5
    _memo: OrderedDict[str, RewardParts] = field(default_factory=OrderedDict)
    _outcomes: dict[str, deque[bool]] = field(default_factory=dict)

    def _record_outcomes(self, name: str, backend: Any, failed: list[bool]) -> None:
        """Add one batch's outcomes (True: failed) to the backend's rolling window; raise when too many failed."""
        window = self._outcomes.get(name)
        if window is None or window.maxlen != self.failure_window:
            window = self._outcomes[name] = deque(window or (), maxlen=self.failure_window)
        window.extend(failed)
        if len(window) < self.failure_window:
            return
        failures = sum(window)
        if failures / len(window) <= self.max_failure_rate:
            return
        cfg = getattr(getattr(backend, "transport", None), "cfg", None)
        key_env = getattr(cfg, "api_key_env", None)
        where = backend.describe() if hasattr(backend, "describe") else type(backend).__name__
        last_error = getattr(getattr(backend, "stats", None), "last_error", None) or "unknown"
        key = f" and its key (${key_env})" if key_env else ", its key"
        raise JudgeFailureRateError(
            f"GRPO aborted: the {name} ({where}) failed {failures} of its last {len(window)} calls, over "
            f"grpo.judge_max_failure_rate={self.max_failure_rate}; last error: {last_error}. Check the "
            f"endpoint{key}, or raise grpo.judge_max_failure_rate"
        )

    @staticmethod
    def _key(text: str, question: Question) -> str:
        return stable_hash([text, question.text, question.answers, question.scope], None)

    def parts(self, texts: list[str], questions: list[Question], factuality_for: str = "all") -> list[RewardParts]:
        """Parts of every completion. factuality_for='incorrect' checks facts only where combined needs them
        (correctness -1); the authors compute factuality for every completion and use it only there."""
        keys = [self._key(t, q) for t, q in zip(texts, questions, strict=True)]
        for key, text in zip(keys, texts, strict=True):
            if key not in self._memo:
                self._memo[key] = RewardParts(reward_view(text))
            self._memo.move_to_end(key)
        batch = [self._memo[k] for k in keys]

        def wanted(part: RewardParts) -> bool:
            return part.factuality is None

        # Replies and verdicts reach the warehouse cache in one write per step, not one per call, committed by a
        # writer thread while training goes on (knowrl/transport/cache.py; the GRPO stage flushes it at the end).
        with deferred_writes(_caches(self.judge, self.extractor, self.verifier), in_background=True):
            if factuality_for == "all":
                # Grading and fact checking are independent here: overlap their endpoint waits.
                with ThreadPoolExecutor(max_workers=1) as pool:
                    judging = pool.submit(self._judge, batch, questions)
                    todo = [i for i, p in enumerate(batch) if wanted(p)]
                    self._factuality([batch[i] for i in todo], [questions[i] for i in todo])
                    judging.result()
            else:
                self._judge(batch, questions)
                # "none": grades only (the rewards beyond KnowRL that read the grade); "incorrect": combined's facts
                todo = [i for i, p in enumerate(batch) if wanted(p) and p.correctness == -1.0]
                todo = todo if factuality_for == "incorrect" else []
                self._factuality([batch[i] for i in todo], [questions[i] for i in todo])
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return batch

    def _judge(self, batch: list[RewardParts], questions: list[Question]) -> None:
        todo = [i for i, p in enumerate(batch) if not p.judged]
        settled: dict[int, float] = {}
        if self.rules == june.VERSION:  # answers settled before any judge call (knowrl/rewards/rules_2025_06.py)
            for i in todo:
                answer = batch[i].answer
                if answer:
                    score = june.prefilter_score(answer, "; ".join(questions[i].answers))
                    if score is not None:
                        settled[i] = score
        with_answer = [i for i in todo if batch[i].answer and i not in settled]
        items = [JudgeItem(questions[i].text, questions[i].answers, batch[i].answer or "") for i in with_answer]
        grades = self.judge.grade_many(items)
        for i, grade in zip(with_answer, grades, strict=True):
            batch[i].grade = grade
        for i in todo:
            batch[i].correctness = settled.get(i, correctness_score(batch[i].answer, batch[i].grade, self.rules))
            # Sticky, like a fact-check failure: TRL calls every reward function on the same batch, and
            # retrying a down endpoint for each of them would multiply the wait, not the signal.
            batch[i].judged = True
        if grades:
            self._record_outcomes("judge", self.judge, [grade is None for grade in grades])

    def _factuality(self, batch: list[RewardParts], questions: list[Question]) -> None:
        """Facts, their support and the factuality of each completion. Extraction replies are checked as they
        arrive: while the endpoint answers the later ones, the facts of the first ones are retrieved and verified.
        Each check takes whatever arrived since the last one began, so a slow check makes the next one bigger, not
        more frequent (each verifier batch reads the warehouse cache once)."""
        if not batch:
            return
        # Reasoning with no text has no facts: no extraction call (the authors' extractor answers NON_FACTUAL).
        with_text = [i for i, p in enumerate(batch) if p.view.fact_text]
        self._check_facts([(i, []) for i, p in enumerate(batch) if not p.view.fact_text], batch, questions)
        if not with_text:
            return
        arrived: queue.SimpleQueue[tuple[int, list[str] | None] | None] = queue.SimpleQueue()

        def extract() -> list[list[str] | None]:
            try:
                return self.extractor.extract_many(
                    [batch[i].view.fact_text for i in with_text], lambda j, facts: arrived.put((with_text[j], facts))
                )
            finally:
                arrived.put(None)  # the end, also when extraction raised

        checked: set[int] = set()
        with ThreadPoolExecutor(max_workers=1) as pool:
            extracting = pool.submit(extract)
            ended = False
            while not ended:
                chunk = [arrived.get()]
                while not arrived.empty():
                    chunk.append(arrived.get())
                ended = chunk[-1] is None  # the end marker is the last thing put
                items = [item for item in chunk if item is not None and item[0] not in checked]
                checked.update(i for i, _ in items)
                self._check_facts(items, batch, questions)
            replies = extracting.result()  # raises what extraction raised
        # An extractor that reports nothing as it goes: its facts are checked from what it returned.
        rest = [(i, facts) for i, facts in zip(with_text, replies, strict=True) if i not in checked]
        self._check_facts(rest, batch, questions)
        if replies:
            self._record_outcomes("extractor", self.extractor, [reply is None for reply in replies])

    def _check_facts(
        self, items: list[tuple[int, list[str] | None]], batch: list[RewardParts], questions: list[Question]
    ) -> None:
        """Retrieve and verify the facts of these completions (index in the batch, facts or None where extraction
        failed) in one batch, and score each."""
        if not items:
            return
        queries, query_facts, scopes, owners = [], [], [], []
        for i, facts in items:
            part = batch[i]
            if facts is None:  # extraction failed after retries: factuality 0, as the authors' code gives
                part.facts, part.fact_check_failed = [], True
                continue
            part.facts = facts
            part.no_evidence = not self.store.covers(questions[i].scope)
            if part.no_evidence:
                continue  # no passage can support anything: every fact is unsupported, no retrieval needed
            for fact in facts:
                topic = questions[i].topic
                queries.append(f"{topic} {fact}" if self.query == "topic_and_fact" and topic else fact)
                query_facts.append(fact)
                scopes.append(questions[i].scope)
                owners.append(i)
        results = self.store.search_batch(queries, scopes, self.top_k) if queries else []
        values = self.verifier.entailment_many(
            [(fact, [p.text for p in r.passages]) for fact, r in zip(query_facts, results, strict=True)]
        )
        per_item: dict[int, list[float | None]] = {}
        for owner, value in zip(owners, values, strict=True):
            per_item.setdefault(owner, []).append(value)
        for i, _ in items:
            part = batch[i]
            if part.fact_check_failed:
                part.supported, part.factuality = [], 0.0
                continue
            found = per_item.get(i, [0.0] * part.n_facts)  # no evidence: nothing supported
            if any(v is None for v in found):
                part.fact_check_failed, part.supported, part.factuality = True, [], 0.0
                continue
            part.supported = [v >= self.threshold for v in found]  # type: ignore[operator]
            part.factuality = (
                june.factuality_count_score(part.supported)
                if self.rules == june.VERSION
                else factuality_score(part.supported, self.gamma)
            )

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            name: backend.stats.snapshot()
            for name, backend in (("judge", self.judge), ("extractor", self.extractor), ("verifier", self.verifier))
            if isinstance(getattr(backend, "stats", None), CallStats)
        }
