"""Long-form factuality (the `factscore` kind): FActScore's measure with the reward's machinery.

Each response (the model's final answer: the answer tag's text, else the text after its reasoning) is split into
atomic facts by the extractor, each fact is looked up in the knowledge store scoped to the entity's pages (query:
the entity + " " + the fact, as the reward's `topic_and_fact`), and verified passage by passage (supported as soon as
one passage reaches the verifier's entailment threshold), all batched over the benchmark. The evaluation's own
`extractor` and `verifier` settings are used, not GRPO's.

As FActScore (shmsw25/FActScore, `get_score`): a response abstains when it is a refusal or yields no fact; precision
is supported / facts of each responding response, averaged over the responding ones; the score with FActScore's
length penalty (gamma 10) is reported beside it. An extraction or verification failure is counted, and the response
scored as having no supported fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from knowrl.judges.answers import is_refusal
from knowrl.rewards.arithmetic import GAMMA, length_penalty


@dataclass(frozen=True)
class FactCheck:
    """What the factscore kind checks facts with: the evaluation's extractor and verifier, and the knowledge store."""

    extractor: Any  # FactExtractor
    verifier: Any  # FactVerifier (threshold: its entailment threshold)
    store: Any  # KnowledgeStore: covers(titles), search_batch(queries, titles, k)
    top_k: int = 5
    threshold: float = 0.3
    gamma: int = GAMMA


def check_responses(
    check: FactCheck, entities: list[str], scopes: list[list[str]], answers: list[str | None]
) -> list[dict[str, Any]]:
    """Per response: facts, supported facts, abstained, precision (None when abstained), the penalised score, and
    whether the check failed or the entity has no page in the store."""
    results: list[dict[str, Any]] = [{} for _ in answers]
    responding = [i for i, a in enumerate(answers) if a and a.strip() and not is_refusal(a)]
    replies = check.extractor.extract_many([answers[i] or "" for i in responding]) if responding else []
    facts_of: dict[int, list[str]] = {}
    for i, facts in zip(responding, replies, strict=True):
        if facts is None:
            results[i]["check_failed"] = True
        elif facts:
            facts_of[i] = list(facts)
    owners, queries, query_scopes = [], [], []
    for i, facts in facts_of.items():
        results[i]["no_evidence"] = not check.store.covers(scopes[i])
        if results[i]["no_evidence"]:
            continue  # nothing can support them: every fact unsupported
        for fact in facts:
            owners.append(i)
            queries.append(f"{entities[i]} {fact}")
            query_scopes.append(scopes[i])
    found = check.store.search_batch(queries, query_scopes, check.top_k) if queries else []
    facts_flat = [f for i in facts_of if not results[i]["no_evidence"] for f in facts_of[i]]
    values = check.verifier.entailment_many(
        [(fact, [p.text for p in r.passages]) for fact, r in zip(facts_flat, found, strict=True)]
    )
    support: dict[int, list[float | None]] = {}
    for i, value in zip(owners, values, strict=True):
        support.setdefault(i, []).append(value)
    for i, result in enumerate(results):
        facts = facts_of.get(i, [])
        probs = support.get(i, [0.0] * len(facts))
        if any(p is None for p in probs):
            result["check_failed"], probs = True, [0.0] * len(facts)
        supported = [p is not None and p >= check.threshold for p in probs]
        abstained = not facts
        result.update(
            facts=facts,
            n_facts=len(facts),
            n_supported=sum(supported),
            abstained=abstained,
            precision=None if abstained else sum(supported) / len(facts),
            factscore=None if abstained else sum(supported) / len(facts) * length_penalty(len(facts), check.gamma),
        )
        result.setdefault("check_failed", False)
        result.setdefault("no_evidence", False)
    return results


def factscore_metrics(items: list[dict[str, Any]]) -> dict[str, float]:
    """precision and factscore: means over responding responses (FActScore's); supported_per_response: mean supported
    facts over every response (an abstention states none); facts_per_response: over responding responses (FActScore's
    #facts); abstention_rate: the share abstaining (1 - FActScore's respond ratio); fact_check_failures: a count."""
    details = [i["details"] for i in items]
    responding = [d for d in details if not d.get("abstained")]
    n, r = max(1, len(details)), max(1, len(responding))
    return {
        "precision": sum(d["precision"] for d in responding) / r if responding else 0.0,
        "factscore": sum(d["factscore"] for d in responding) / r if responding else 0.0,
        "supported_per_response": sum(d.get("n_supported", 0) for d in details) / n,
        "facts_per_response": sum(d.get("n_facts", 0) for d in responding) / r if responding else 0.0,
        "abstention_rate": sum(bool(d.get("abstained")) for d in details) / n,
        "fact_check_failures": float(sum(bool(d.get("check_failed")) for d in details)),
    }
