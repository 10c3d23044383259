"""The rewards benchmark's synthetic GRPO step (benchmarks/bench_rewards.py): pages, an RL set and completions made
so that retrieval ranking and the authors' early exit decide which facts are supported.

Pages of ~25 passages where some facts are supported by the passage BM25 ranks first, some only by the 2nd-5th
(near-copies lacking one word of the fact rank above it), some by a passage ranked below the top 5, some by none, and
some questions have no title in the knowledge store.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.authors_reference import write_topic_kb

CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"
# Per page: sentences whose passage ranks first, and sentences with n near-copies (the fact less one word, twice)
# in passages of their own, which rank above the sentence's passage: support at rank n + 1, or below the top 5.
DIRECT, DECOYS, FILLERS, POOL = 6, (1, 2, 3, 4, 6, 7), 7, 30


class Words:
    """Pseudo-words (consonant-vowel syllables), each used once: no two pages share a content word by chance."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set[str]()

    def new(self, syllables: int = 3) -> str:
        while True:
            word = "".join(self.rng.choice(CONSONANTS) + self.rng.choice(VOWELS) for _ in range(syllables))
            if word not in self.used:
                self.used.add(word)
                return word


@dataclass
class Page:
    title: str
    passages: list[str]
    facts: list[str]  # sentences a reasoning may state, each the whole text of a fact the extractor returns


def make_page(words: Words, rng: random.Random, verbs: list[str]) -> Page:
    title = f"{words.new().capitalize()} {words.new().capitalize()}"
    subject, pool = title.split()[0], [words.new() for _ in range(POOL)]

    def sentence() -> list[str]:
        return [subject, rng.choice(verbs), *rng.sample(pool, 4)]

    facts, plain, decoys = [], [], []
    for n_decoys in [0] * DIRECT + list(DECOYS):
        fact = sentence()
        facts.append(" ".join(fact) + ".")
        plain.append(fact)
        missing = rng.randrange(2, len(fact))  # every near-copy of this fact lacks the same word
        for _ in range(n_decoys):
            copies = []
            for _ in range(2):
                copy = list(fact)
                copy[missing] = rng.choice([w for w in pool if w not in fact])
                copies.append(" ".join(copy) + ".")
            decoys.append(" ".join(copies))
    plain.extend(sentence() for _ in range(FILLERS))
    rng.shuffle(plain)
    passages = [" ".join(" ".join(s) + "." for s in plain[i : i + 3]) for i in range(0, len(plain), 3)] + decoys
    rng.shuffle(passages)
    return Page(title, passages, facts)


@dataclass
class StepData:
    pages: list[Page]
    rows: list[dict[str, str]]  # the RL set: question, answers, title (titles joined by ";")
    completions: dict[str, list[str]]  # question -> its completions
    texts: list[str] = field(default_factory=list)  # every passage and fact: the NLI stand-in's vocabulary


def make_step(prompts: int, completions: int, seed: int = 0) -> StepData:
    """`prompts` questions: most about one page, some about two, one in six about pages the store lacks (one of
    those has one title in the store and one not). Each completion states 5-6 facts drawn from its question's
    pages (or from other pages and from nowhere) in three paragraphs, and answers right, wrong, "I don't know." or
    not at all; one completion in ten states no fact."""
    rng = random.Random(seed)
    words = Words(rng)
    verbs = [words.new(2) for _ in range(12)]
    pages: list[Page] = []
    rows, by_question = [], {}
    for q in range(prompts):
        kind = "none" if q % 6 == 5 else "half" if q % 6 == 4 else "two" if q % 3 == 1 else "one"
        own = [make_page(words, rng, verbs) for _ in range({"none": 0, "half": 1, "two": 2, "one": 1}[kind])]
        pages.extend(own)
        absent = [
            f"{words.new().capitalize()} {words.new().capitalize()}"
            for _ in range({"none": 2, "half": 1}.get(kind, 0))
        ]
        titles = [p.title for p in own] + absent
        gold, wrong = words.new(), words.new()
        question = f"What did {titles[0].split()[0]} {words.new()} become?"
        rows.append({"question": question, "answers": gold, "title": ";".join(titles)})
        menu = [f for p in own for f in p.facts]
        earlier = pages[: len(pages) - len(own)]
        elsewhere = [f for p in earlier[-3:] for f in p.facts[:3]]  # true facts of other questions' pages
        items = []
        for c in range(completions):
            made_up = [f"{titles[0].split()[0]} {rng.choice(verbs)} {' '.join(words.new() for _ in range(4))}."]
            if c % 10 == 9:
                reasoning = ["Hmm.", "Not sure."]  # no fact: the extractor answers NON_FACTUAL
            else:
                picked = rng.sample(menu, min(len(menu), rng.choice((4, 5)))) if menu else []
                picked += made_up + rng.sample(elsewhere, min(len(elsewhere), 1 if not menu else c % 2))
                rng.shuffle(picked)
                reasoning = picked
            cut = [0, len(reasoning) // 3 + 1, 2 * len(reasoning) // 3 + 1, len(reasoning)]
            paragraphs = [" ".join(reasoning[cut[i] : cut[i + 1]]) for i in range(3) if reasoning[cut[i] : cut[i + 1]]]
            answer = {0: gold, 1: "I don't know.", 2: wrong, 3: f"It is {gold}."}[c % 4]
            tail = "" if c % 10 == 7 else f"\n<answer>{answer}</answer>"  # c = 7: no answer (-1, no judge call)
            items.append("<think>\n" + "\n\n".join(paragraphs) + "\n</think>" + tail)
        by_question[question] = items
    texts = [p for page in pages for p in page.passages] + [t for items in by_question.values() for t in items]
    return StepData(pages, rows, by_question, texts)


def write_inputs(step: StepData, out: Path) -> tuple[Path, Path]:
    """The RL set (rl.jsonl) and the knowledge source: a KnowRL-format SQLite KB, one row per page."""
    out.mkdir(parents=True, exist_ok=True)
    rl = out / "rl.jsonl"
    rl.write_text("".join(json.dumps(row) + "\n" for row in step.rows))
    kb = out / "pages.db"
    write_topic_kb(kb, {page.title: page.passages for page in step.pages})
    return rl, kb
