"""Score a batch of completions once for all rewards: judge grades, facts, retrieval, verification.

TRL calls each reward function in turn with the same completions; the scorer memoises each
completion's parts so format, correctness, factuality and combined share one set of calls.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from knowrl.judges.base import CallStats, FactExtractor, FactVerifier, Grade, Judge, JudgeItem
from knowrl.method.parsing import parse_completion
from knowrl.rewards.arithmetic import (
    ENTAILMENT_THRESHOLD,
    GAMMA,
    combined_score,
    correctness_score,
    factuality_score,
    format_score,
)


@dataclass
class RewardParts:
    well_formed: bool
    answer: str | None
    think: str | None
    grade: Grade | None = None
    correctness: float | None = None
    facts: list[str] | None = None
    entailment: list[float] | None = None
    factuality: float | None = None
    verifier_failed: bool = False
    judged: bool = False

    @property
    def format(self) -> float:
        return format_score(self.well_formed)

    @property
    def combined(self) -> float | None:
        return combined_score(self.correctness, self.factuality)

    @property
    def n_facts(self) -> int:
        return len(self.facts or [])

    @property
    def n_supported(self) -> int:
        return sum(p >= ENTAILMENT_THRESHOLD for p in self.entailment or [])

    @property
    def refusal(self) -> bool:
        return self.grade == Grade.NOT_ATTEMPTED


@dataclass
class RewardScorer:
    judge: Judge
    extractor: FactExtractor
    verifier: FactVerifier
    store: Any  # KnowledgeStore: search_batch(queries, titles, k)
    top_k: int = 5
    threshold: float = ENTAILMENT_THRESHOLD
    gamma: int = GAMMA
    memo_size: int = 50_000
    _memo: OrderedDict[str, RewardParts] = field(default_factory=OrderedDict)

    @staticmethod
    def _key(text: str, question: str, answers: list[str], titles: list[str]) -> str:
        return hashlib.sha256(json.dumps([text, question, answers, titles]).encode()).hexdigest()

    def parts(
        self,
        texts: list[str],
        questions: list[str],
        answers: list[list[str]],
        titles: list[list[str]],
        factuality_for: str = "all",
    ) -> list[RewardParts]:
        """Parts of every completion. factuality_for='incorrect' verifies only where combined needs it."""
        keys = [self._key(*row) for row in zip(texts, questions, answers, titles, strict=True)]
        for key, text in zip(keys, texts, strict=True):
            if key not in self._memo:
                parsed = parse_completion(text)
                self._memo[key] = RewardParts(parsed.well_formed, parsed.answer, parsed.think)
            self._memo.move_to_end(key)
        batch = [self._memo[k] for k in keys]

        def needs_factuality(part: RewardParts) -> bool:
            return part.factuality is None and not part.verifier_failed

        if factuality_for == "all":
            # Grading and fact checking are independent here: overlap their endpoint waits.
            with ThreadPoolExecutor(max_workers=1) as pool:
                judging = pool.submit(self._judge, batch, questions, answers)
                wanted = [i for i, p in enumerate(batch) if needs_factuality(p)]
                self._factuality([batch[i] for i in wanted], [titles[i] for i in wanted])
                judging.result()
        else:
            self._judge(batch, questions, answers)
            wanted = [i for i, p in enumerate(batch) if needs_factuality(p) and p.correctness == -1.0]
            self._factuality([batch[i] for i in wanted], [titles[i] for i in wanted])
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return batch

    def _judge(self, batch: list[RewardParts], questions: list[str], answers: list[list[str]]) -> None:
        todo = [i for i, p in enumerate(batch) if not p.judged]
        with_answer = [i for i in todo if batch[i].answer]
        grades = self.judge.grade_many(
            [JudgeItem(questions[i], tuple(_as_list(answers[i])), batch[i].answer or "") for i in with_answer]
        )
        for i, grade in zip(with_answer, grades, strict=True):
            batch[i].grade = grade
        for i in todo:
            batch[i].correctness = correctness_score(batch[i].answer, batch[i].grade)
            # Sticky, like a verifier failure: TRL calls every reward function on the same batch, and
            # retrying a down endpoint for each of them would multiply the wait, not the signal.
            batch[i].judged = True

    def _factuality(self, batch: list[RewardParts], titles: list[list[str]]) -> None:
        if not batch:
            return
        facts = self.extractor.extract_many([p.think or "" for p in batch])
        queries, query_titles, owners = [], [], []
        for i, (part, fact_list) in enumerate(zip(batch, facts, strict=True)):
            if fact_list is None:
                part.verifier_failed = True
                continue
            part.facts = fact_list
            for fact in fact_list:
                queries.append(fact)
                query_titles.append(_as_list(titles[i]))
                owners.append(i)
        results = self.store.search_batch(queries, query_titles, self.top_k) if queries else []
        probs = self.verifier.entailment_many(
            [(q, [p.text for p in r.passages]) for q, r in zip(queries, results, strict=True)]
        )
        per_item: dict[int, list[float | None]] = {}
        for owner, prob in zip(owners, probs, strict=True):
            per_item.setdefault(owner, []).append(prob)
        for i, part in enumerate(batch):
            if part.verifier_failed:
                continue
            values = per_item.get(i, [])
            if any(v is None for v in values):
                part.verifier_failed = True
                continue
            part.entailment = [float(v) for v in values]
            part.factuality = factuality_score(part.entailment, self.threshold, self.gamma)

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            name: backend.stats.snapshot()
            for name, backend in (("judge", self.judge), ("extractor", self.extractor), ("verifier", self.verifier))
            if isinstance(getattr(backend, "stats", None), CallStats)
        }


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
