"""Write the demo data files from demo/facts.py. Re-run after editing the facts; the outputs are committed.

python demo/make_demo_data.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from facts import (
    AIME_EVAL,
    GPQA_EVAL,
    REFUSALS_IN_COLDSTART,
    TOPICS,
    TRUTHFULQA_EVAL,
    UNKNOWN_EVAL,
    UNKNOWN_TRAIN,
)

# The data ships inside the package (knowrl.resources); demo/data and demo/eval here are links to it.
OUT = Path(__file__).resolve().parents[1] / "knowrl" / "resources" / "demo"


def think_answer(think: str, answer: str) -> str:
    return f"<think>\n{think}\n</think>\n<answer>{answer}</answer>"


def main() -> None:
    data, evals = OUT / "data", OUT / "eval"
    data.mkdir(exist_ok=True)
    evals.mkdir(exist_ok=True)
    rl, coldstart, corpus = [], [], []
    for title, topic in TOPICS.items():
        sentences = topic["background"] + [support for _, _, support in topic["qa"]]
        paragraphs = [" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]
        # Underscores and odd case in the corpus titles exercise the knowledge stage's title matching.
        corpus.append(
            {"title": title.replace(" ", "_") if len(title) % 3 == 0 else title, "text": "\n\n".join(paragraphs)}
        )
        for question, answer, support in topic["qa"]:
            rl.append({"question": question, "answers": answer, "title": f"{title}; {title.split(' (')[0]}"})
            think = f"The question is about {title}. {support} So the answer is {answer}."
            coldstart.append(
                {
                    "id": str(len(coldstart)),
                    "conversations": [
                        {"from": "human", "value": question},
                        {"from": "gpt", "value": think_answer(think, answer)},
                    ],
                }
            )
    known = [(row["question"], row["answers"]) for row in rl]
    for number, (question, title, answer) in enumerate(UNKNOWN_TRAIN):
        rl.append({"question": question, "answers": answer, "title": title})
        if number >= REFUSALS_IN_COLDSTART:
            continue
        think = f"The question is about {title}. I have no reliable knowledge of {title}, so I should not guess."
        coldstart.append(
            {
                "id": str(len(coldstart)),
                "conversations": [
                    {"from": "human", "value": question},
                    {"from": "gpt", "value": think_answer(think, "I don't know.")},
                ],
            }
        )
    (data / "rl.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rl))
    (data / "coldstart.json").write_text(json.dumps(coldstart, indent=1))
    (data / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))

    # SimpleQA layout: questions about made-up entities nobody can know, and questions the model was trained on.
    for name, rows in (("heldout.csv", UNKNOWN_EVAL), ("trained.csv", known)):
        with (evals / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["metadata", "problem", "answer"])
            for question, answer in rows:
                writer.writerow([json.dumps({"topic": "demo"}), question, answer])
    with (evals / "gpqa.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]
        )
        for question, correct, wrong in GPQA_EVAL:
            writer.writerow([question, correct, *wrong])
    (evals / "aime.jsonl").write_text("".join(json.dumps({"problem": q, "answer": a}) + "\n" for q, a in AIME_EVAL))
    with (evals / "truthfulqa.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers", "Source"]
        )
        for question, best, correct, incorrect in TRUTHFULQA_EVAL:
            writer.writerow(["Adversarial", "Demo", question, best, "; ".join(correct), "; ".join(incorrect), "demo"])
    print(f"wrote {len(rl)} RL rows, {len(coldstart)} cold-start rows, {len(corpus)} pages")


if __name__ == "__main__":
    main()
