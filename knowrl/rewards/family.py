"""What the rewards beyond KnowRL read from a completion, over the shared scorer's memoised parts.

- `truthfulness` (TruthRL) and `calibration` (RLCR) read the judge's grade of the answer, which the scorer computes
  once per completion for every reward of the step;
- `binary_rar` (Binary RAR) checks the claims of the visible response (the answer, the reasoning stripped as the
  paper strips the chain of thought) against the passages retrieved for them from the question's own titles: each
  (passage, claim) pair's P(contradiction), the highest per claim, memoised on the completion's parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowrl.judges.answers import is_refusal
from knowrl.rewards.arithmetic import binary_rar_score
from knowrl.rewards.contradiction import ContradictionFn
from knowrl.rewards.scorer import Question, RewardParts, RewardScorer

RAR_KEY = "binary_rar"


@dataclass(frozen=True)
class ContradictionCheck:
    """One completion's Binary RAR check: its claims and each claim's highest P(contradiction) over its passages.

    status: checked | abstained (a refusal states nothing) | no_evidence (no title of the question in the store:
    nothing can contradict) | no_answer (missing or empty answer: the paper's unparseable response) | failed (the
    extraction or the verifier failed after retries)."""

    claims: tuple[str, ...]
    contradiction: tuple[float, ...]
    status: str

    def reward(self, threshold: float) -> float:
        """Binary RAR: 0 for no answer or a failed check (the paper scores both 0), else 1 unless a claim reaches
        the threshold."""
        if self.status in ("no_answer", "failed"):
            return 0.0
        return binary_rar_score(list(self.contradiction), threshold)


def answer_claim(question: str, answer: str) -> str:
    """A short answer states one claim only with its question ("Paris" answers "What is the capital of France?"):
    the question followed by the answer is checked as one hypothesis."""
    return f"{question.strip()} {answer.strip()}"


def check_contradictions(
    scorer: RewardScorer, parts: list[RewardParts], questions: list[Question], checker: ContradictionFn
) -> list[ContradictionCheck]:
    """Each completion's check, computed once (memoised on its parts): one extraction batch over the answers, one
    retrieval batch over the claims, one batch of (passage, claim) pairs through the checker."""
    todo = [i for i, p in enumerate(parts) if RAR_KEY not in p.extra]
    settled: dict[int, ContradictionCheck] = {}
    to_extract: list[int] = []
    for i in todo:
        answer = parts[i].answer
        if answer is None:
            settled[i] = ContradictionCheck((), (), "no_answer")
        elif is_refusal(answer):
            settled[i] = ContradictionCheck((), (), "abstained")
        else:
            to_extract.append(i)
    replies = scorer.extractor.extract_many([parts[i].answer or "" for i in to_extract]) if to_extract else []
    if replies:
        scorer._record_outcomes("extractor", scorer.extractor, [reply is None for reply in replies])
    claims: dict[int, list[str]] = {}
    for i, facts in zip(to_extract, replies, strict=True):
        if facts is None:
            settled[i] = ContradictionCheck((), (), "failed")
        elif not scorer.store.covers(questions[i].scope):
            settled[i] = ContradictionCheck((), (), "no_evidence")
        else:
            claims[i] = list(facts) or [answer_claim(questions[i].text, parts[i].answer or "")]
    owners = [(i, claim) for i, found in claims.items() for claim in found]
    queries = [
        f"{questions[i].topic} {claim}" if scorer.query == "topic_and_fact" and questions[i].topic else claim
        for i, claim in owners
    ]
    results = (
        scorer.store.search_batch(queries, [questions[i].scope for i, _ in owners], scorer.top_k) if owners else []
    )
    passages = [[p.text for p in r.passages] for r in results]
    pairs = list(
        dict.fromkeys(
            (passage, claim) for (_, claim), found in zip(owners, passages, strict=True) for passage in found
        )
    )
    probability = dict(zip(pairs, checker(pairs), strict=True)) if pairs else {}
    per_claim: dict[int, list[float | None]] = {}
    for (i, claim), found in zip(owners, passages, strict=True):
        values = [probability[(passage, claim)] for passage in found]
        per_claim.setdefault(i, []).append(
            None if any(v is None for v in values) else max((v for v in values if v is not None), default=0.0)
        )
    for i, found in claims.items():
        values = per_claim.get(i, [])
        if any(v is None for v in values):
            settled[i] = ContradictionCheck(tuple(found), (), "failed")
        else:
            settled[i] = ContradictionCheck(tuple(found), tuple(v for v in values if v is not None), "checked")
    for i, check in settled.items():
        parts[i].extra[RAR_KEY] = check
    return [p.extra[RAR_KEY] for p in parts]
