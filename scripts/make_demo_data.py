"""Write the demo's data files from demo/facts.yaml. Re-run after editing the facts; the outputs are committed.

.venv/bin/python scripts/make_demo_data.py

Outputs (under knowrl/resources/demo, which demo/data and demo/eval link to):
- data/rl.jsonl, data/coldstart.json, data/corpus.jsonl: the training set, the cold start and the knowledge pages;
- data/pretrain.jsonl: the tiny model's pretraining text (knowrl/models/loading.py reads it);
- eval/unknown.csv, eval/known.csv, eval/trained.csv (SimpleQA layout), eval/bios.csv (factscore: entity, prompt),
  eval/gpqa.csv, eval/aime.jsonl, eval/truthfulqa.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import yaml

from knowrl.method.prompts import REFUSAL, SYSTEM_PROMPT

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "demo" / "facts.yaml"
OUT = ROOT / "knowrl" / "resources" / "demo"  # the data ships inside the package (knowrl.resources)


def think_answer(think: str, answer: str) -> str:
    return f"<think>\n{think}\n</think>\n<answer>{answer}</answer>"


def made_up_questions(spec: dict, per_template: int, seed: int, taken: set[str]) -> list[tuple[str, str, str]]:
    """(question, title, answer) about made-up entities: each template filled `per_template` times with fresh names.

    Placeholders: {N} a name, {M} a second name, {P} a person (two names), {n} the name in lower case; in answers
    {N}/{P}/{n} are further fresh names, {D} a digit and {E} a non-zero digit. `taken` keeps names unique across
    calls, so held-out entities never reuse a training one.
    """
    rng = random.Random(seed)
    syllables = spec["syllables"].split()

    def word() -> str:
        while True:
            name = "".join(rng.sample(syllables, 2)).capitalize()
            if name not in taken:
                taken.add(name)
                return name

    def fill(text: str, names: dict[str, str]) -> str:
        for key, value in names.items():
            text = text.replace("{" + key + "}", value)
        while "{E}" in text:
            text = text.replace("{E}", str(rng.randrange(1, 10)), 1)
        while "{D}" in text:
            text = text.replace("{D}", str(rng.randrange(10)), 1)
        while "{N}" in text:
            text = text.replace("{N}", word(), 1)
        while "{P}" in text:
            text = text.replace("{P}", f"{word()} {word()}", 1)
        while "{n}" in text:
            text = text.replace("{n}", word().lower(), 1)
        return text

    rows = []
    for _ in range(per_template):
        for template in spec["templates"]:
            names = {"N": word(), "M": word(), "P": f"{word()} {word()}"}
            names["n"] = names["N"].lower()
            question, title = fill(template["question"], names), fill(template["title"], names)
            rows.append((question, title, fill(template["answer"], {})))  # answers name fresh made-up things
    return rows


def phrase(template: str | dict[str, str], fact: dict[str, str]) -> dict:
    """One pretraining row of a fact: plain text, or a chat turn ({user:, assistant:}) that the tiny model's chat
    template renders at pretraining (knowrl/models/loading.py); `{system_prompt}` is the method's system prompt."""
    fields = {**fact, "system_prompt": SYSTEM_PROMPT}
    if isinstance(template, str):
        return {"text": template.format(**fields)}
    return {"messages": [{"role": role, "content": text.format(**fields)} for role, text in template.items()]}


def copy_drills(corpus: list[dict], count: int, seed: int = 5) -> list[dict]:
    """Pretraining rows that practise copying the reasoning's conclusion into the answer tags: a span of 1-4 words
    from the corpus pages, stated after "So the answer is" and repeated inside <answer>. A 4-layer model pretrained on
    the facts alone recalls a fact in its reasoning and then often writes another answer; real base models can copy.
    The spans are words of the real pages only, so the drills teach no made-up entity."""
    rng = random.Random(seed)
    words = [w.strip(".,;") for page in corpus for w in page["text"].split() if w.strip(".,;")]
    rows = []
    for _ in range(count):
        start, length = rng.randrange(len(words) - 4), rng.randint(1, 4)
        span = " ".join(words[start : start + length])
        rows.append({"text": f"So the answer is {span}.\n</think>\n<answer>{span}</answer>"})
    return rows


def corpus_title(title: str) -> str:
    # Underscores in some corpus titles exercise the knowledge stage's title matching.
    return title.replace(" ", "_") if len(title) % 3 == 0 else title


def build(facts: dict) -> dict[str, list]:
    """Every output's rows, from the facts."""
    rl, coldstart, corpus, pretrain, trained, known, known_phrased = [], [], [], [], [], [], []
    for title, topic in facts["topics"].items():
        qa, untrained = topic["qa"], topic.get("untrained", [])
        sentences = topic["background"] + [f["support"] for f in qa] + [f["support"] for f in untrained]
        paragraphs = [" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]
        corpus.append({"title": corpus_title(title), "text": "\n\n".join(paragraphs)})
        pretrain.extend({"text": p} for p in paragraphs)
        for fact in qa:
            question, answer = fact["question"], fact["answer"]
            rl.append({"question": question, "answers": answer, "title": f"{title}; {title.split(' (')[0]}"})
            pretrain.extend(phrase(p, fact) for p in facts["pretrain_phrasings"])
            think = f"{fact['support']} So the answer is {answer}."
            coldstart.append(_conversation(len(coldstart), question, think_answer(think, answer)))
            trained.append((question, answer))
        for fact in untrained:
            phrased = [phrase(p, fact) for p in facts["pretrain_phrasings"]]
            pretrain.extend(phrased)
            known_phrased.extend(phrased)
            known.append((fact["question"], fact["answer"]))

    pretrain.extend(copy_drills(corpus, facts.get("copy_drills", 0)))
    # Further passes over the untrained facts' phrasings, after the drills: the base model must be sure of what it
    # "knows" (demo/facts.yaml untrained_phrasing_repeats says what was measured).
    pretrain.extend(known_phrased * (facts.get("untrained_phrasing_repeats", 1) - 1))
    made_up, taken = facts["made_up"], set()
    train = made_up_questions(made_up, made_up["train"]["per_template"], made_up["train"]["seed"], taken)
    unknown = made_up_questions(made_up, made_up["unknown"]["per_template"], made_up["unknown"]["seed"], taken)
    for number, (question, title, answer) in enumerate(train):
        rl.append({"question": question, "answers": answer, "title": title})
        if number < made_up["refusals_in_coldstart"]:
            think = f"I have no reliable knowledge of {title}, so I should not guess."
            coldstart.append(_conversation(len(coldstart), question, think_answer(think, REFUSAL)))
    return {
        "rl": rl,
        "coldstart": coldstart,
        "corpus": corpus,
        "pretrain": pretrain,
        "unknown": [(q, a) for q, _, a in unknown],
        # long-form (factscore): overviews of known topics and of the first unknown made-up entities
        "bios": [(title, f"Give an overview of {title}.") for title in facts["bios"]["known"]]
        + [(title, f"Give an overview of {title}.") for _, title, _ in unknown[: facts["bios"]["made_up"]]],
        "known": known,
        "trained": trained,
    }


def _conversation(number: int, question: str, response: str) -> dict:
    return {
        "id": str(number),
        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": response}],
    }


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write(facts: dict, out: Path) -> dict[str, int]:
    data, evals = out / "data", out / "eval"
    data.mkdir(parents=True, exist_ok=True)
    evals.mkdir(parents=True, exist_ok=True)
    rows = build(facts)
    _jsonl(data / "rl.jsonl", rows["rl"])
    (data / "coldstart.json").write_text(json.dumps(rows["coldstart"], indent=1))
    _jsonl(data / "corpus.jsonl", rows["corpus"])
    _jsonl(data / "pretrain.jsonl", rows["pretrain"])
    for name in ("unknown", "known", "trained"):  # SimpleQA's layout
        meta = json.dumps({"topic": "demo", "set": name})
        _csv(evals / f"{name}.csv", ["metadata", "problem", "answer"], [[meta, q, a] for q, a in rows[name]])
    _csv(evals / "bios.csv", ["entity", "prompt"], [list(row) for row in rows["bios"]])
    _csv(
        evals / "gpqa.csv",
        ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"],
        [[g["question"], g["correct"], *g["incorrect"]] for g in facts["gpqa"]],
    )
    _jsonl(evals / "aime.jsonl", facts["aime"])
    _csv(
        evals / "truthfulqa.csv",
        ["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers", "Source"],
        [
            [
                *("Adversarial", "Demo", t["question"], t["best"]),
                *("; ".join(t["correct"]), "; ".join(t["incorrect"]), "demo"),
            ]
            for t in facts["truthfulqa"]
        ],
    )
    return {name: len(value) for name, value in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=Path, default=FACTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    counts = write(yaml.safe_load(args.facts.read_text()), args.out)
    print(", ".join(f"{n} {name}" for name, n in counts.items()))


if __name__ == "__main__":
    main()
