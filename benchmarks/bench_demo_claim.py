"""Does the demo's claim hold beyond one lucky run? The demo's training over several seeds, and over perturbed data.

Each run is the real pipeline (`knowrl run --recipe demo`) in its own KNOWRL_HOME, evaluated on the demo's three
sets: `unknown` (made-up entities nobody can know), `known` (facts in the tiny model's pretraining text but in
neither the RL nor the cold-start set) and `trained` (the RL set's real questions). Per set and model it reports the
rates as mean and spread (min..max) over the runs, the refusal gap (refusal rate on unknown minus on known: a model
that refuses what it cannot know, not what it was not taught, has a large gap and few refusals on known), and
where GRPO's known refusals come from (of the known questions SFT answered right, wrong, or refused, how many GRPO
refuses: KnowRL should turn wrong answers into refusals, not right ones), and whether the claim held in each run:
  1. fewer incorrect answers than the cold-start SFT model on unknown, its bootstrap interval below 0;
  2. no more refusals than SFT on known;
  3. trained answers kept (GRPO correct >= SFT correct - 0.15);
  4. the refusal gap grows (the demo's test asserts it, with known answers kept, since claim 2 does not hold on
     every run of a 4-layer model: README, "The demo shows the method working");
  5. refusing is selective: of the known questions SFT answered right, GRPO refuses at most half the share it refuses
     of the unknown questions SFT answered wrong (the demo's test asserts it).

`--pass-rate-k 8` also asks each run's SFT model every known question 8 times as GRPO samples (temperature 0.7, the
reward's judge) and splits GRPO's known refusals by that pass rate at 2/3: below it, KnowRL's reward (2 right,
1 refused, -1 wrong) pays more for refusing than for answering, so refusing there is what the reward asks for.

Variants:
- `--seeds 0 1 2`: sft.seed and grpo.seed (the tiny base model is the same pretrained model in every run);
- `--perturbed`: one more run with 5 rephrased RL questions appended to the RL set (the case that once moved the
  held-out incorrect rate from 0.05 to 0.25);
- `--reward knowrl|truthfulness|binary_rar`: the GRPO reward besides format (KnowRL's combined reward, TruthRL's
  ternary reward, or Binary RAR's), to compare rewards on the same three sets.

    .venv/bin/python benchmarks/bench_demo_claim.py --seeds 0 1 2 --perturbed --pass-rate-k 8
    .venv/bin/python benchmarks/bench_demo_claim.py --seeds 0 1 2 --reward truthfulness
    .venv/bin/python benchmarks/bench_demo_claim.py --smoke --perturbed   # CI: 2 short runs

The last line printed is JSON with every run's rates and the summary. Exit 1 if a run failed; the claim's outcome is
reported, not asserted (tests/flows/test_demo_flow.py asserts it for the default run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowrl.evaluate.metrics import refused_share  # noqa: E402
from storage import Paths, Warehouse  # noqa: E402

SETS = ("unknown", "known", "trained")
MODELS = ("sft", "grpo")
RATES = ("correct_rate", "incorrect_rate", "not_attempted_rate")
REWARDS = {
    "knowrl": "[{name: format, weight: 1.0}, {name: combined, weight: 1.0}]",
    "truthfulness": "[{name: format, weight: 1.0}, {name: truthfulness, weight: 1.0}]",
    "binary_rar": "[{name: format, weight: 1.0}, {name: binary_rar, weight: 1.0}]",
}
# The smoke size: the path runs (the claims are reported, and short training does not make them hold).
SMOKE = ["sft.max_steps=10", "grpo.max_steps=2", "grpo.per_device_train_batch_size=8", "curate.k=2"]
# Questions about trained facts, reworded: the RL set grows by rows the cold start never saw.
REPHRASED = [
    {"question": "Which city is the Eiffel Tower in?", "answers": "Paris", "title": "Eiffel Tower"},
    {"question": "What is the name of Jupiter's largest moon?", "answers": "Ganymede", "title": "Jupiter"},
    {"question": "Who found penicillin?", "answers": "Alexander Fleming", "title": "Penicillin"},
    {"question": "In what city were The Beatles formed?", "answers": "Liverpool", "title": "The Beatles"},
    {"question": "Where does the Amazon River rise?", "answers": "Peru", "title": "Amazon River"},
]


def _stage_ref(home: Path, stage: str) -> dict:
    """The latest run's result of one stage in a home."""
    with Warehouse(Paths(home).warehouse).connect() as con:
        rows = con.execute(
            "SELECT ref FROM stage_runs WHERE stage = ? ORDER BY finished_at DESC LIMIT 1", [stage]
        ).fetchall()
    if not rows:
        raise RuntimeError(f"no {stage} run in {home}")
    return json.loads(rows[0][0])


def _comparison(home: Path) -> dict:
    return _stage_ref(home, "evaluate")["comparison"]


GROUPS = {"correct": "right", "incorrect": "wrong", "not_attempted": "refused"}


def known_refusals(moves: dict[str, int]) -> dict[str, int]:
    """Where GRPO's refusals on the known set come from, from evaluate's per-answer grade moves (SFT -> GRPO): of the
    known questions SFT answered right, answered wrong, or refused, how many GRPO refuses. KnowRL should turn wrong
    answers into refusals; a right answer turned into a refusal is a refusal of what the model knew."""
    counts = {f"sft_{group}{tail}": 0 for group in GROUPS.values() for tail in ("", "_grpo_refused")}
    for key, n in moves.items():
        before, after = key.split("->")
        group = GROUPS.get(before, "wrong")  # an ungraded SFT answer counts with the wrong ones
        counts[f"sft_{group}"] += n
        counts[f"sft_{group}_grpo_refused"] += n if after == "not_attempted" else 0
    return counts


def _refusal_sources(moves: dict[str, int]) -> str:
    return ", ".join(f"{moves[f'sft_{g}_grpo_refused']}/{moves[f'sft_{g}']} SFT {g}" for g in GROUPS.values())


# KnowRL's correctness reward (knowrl/rewards/arithmetic.py): 2 right, 1 refused, -1 + factuality wrong. Answering
# beats refusing in expectation only when the model is right more often than this (2p - (1 - p) > 1, factuality 0).
ANSWER_PAYS_ABOVE = 2 / 3


def _stored_grades(home: Path, artifact_id: str, benchmark: str) -> dict[str, str]:
    """Evaluate's stored grade per question of one benchmark for one trained model (greedy, the stricter judge)."""
    from knowrl.hashing import stable_hash

    with Warehouse(Paths(home).warehouse).connect() as con:
        rows = con.execute(
            "SELECT question, grade FROM eval_items WHERE model_id = ? AND benchmark = ?",
            [stable_hash(f"artifact:{artifact_id}"), benchmark],
        ).fetchall()
    return {question: grade or "ungraded" for question, grade in rows}


def known_pass_rates(home: Path, k: int) -> dict[str, int]:
    """Why GRPO refuses a known question: the SFT model's pass rate on each known question when sampled as GRPO samples
    (k answers at the recipe's temperature 0.7, graded by the reward's rules judge), split at ANSWER_PAYS_ABOVE, and
    how many of each side GRPO refuses at evaluation. Refusals of questions the SFT model gets right less than 2/3 of
    the time are what KnowRL's reward pays for; refusals above it would be refusing what the model knows."""
    import csv

    from knowrl.config.backends import JudgeConfig
    from knowrl.curate.config import CurateConfig
    from knowrl.curate.stage import sample_and_grade
    from knowrl.judges import build_judge

    with (ROOT / "demo" / "eval" / "known.csv").open() as handle:
        known = [(row["problem"], row["answer"]) for row in csv.DictReader(handle)]
    rows = [{"row_id": str(n), "question": q, "answers": [a]} for n, (q, a) in enumerate(known)]
    cfg = CurateConfig(enabled=True, k=k, temperature=0.7, max_new_tokens=64, batch_size=32)
    sft = _stage_ref(home, "sft")
    judge = build_judge(JudgeConfig(backend="rules"))  # the reward's judge: what GRPO was paid by
    sampled, _ = sample_and_grade(cfg, Path(sft["model_path"]), rows, judge, lambda *_: None)
    grpo = _stored_grades(home, _stage_ref(home, "grpo")["artifact_id"], "known")
    counts = {f"{side}{tail}": 0 for side in ("sft_sure", "sft_unsure") for tail in ("", "_grpo_refused")}
    counts["grpo_graded"] = sum(row["question"] in grpo for row in sampled)  # evaluate's grades found for them
    for row in sampled:
        side = "sft_sure" if row["correct"] / row["samples"] >= ANSWER_PAYS_ABOVE else "sft_unsure"
        counts[side] += 1
        counts[f"{side}_grpo_refused"] += grpo.get(row["question"]) == "not_attempted"
    return counts


def _run(name: str, home: Path, overrides: list[str], models_from: Path | None, pass_k: int = 0) -> dict:
    """One demo run; the pretrained tiny base model is copied from an earlier run's home (it never changes)."""
    if models_from is not None and (models_from / "models").is_dir():
        shutil.copytree(models_from / "models", home / "models", dirs_exist_ok=True)
    env = {**os.environ, "KNOWRL_HOME": str(home), "PREFECT_HOME": str(home / "prefect")}
    command = [str(Path(sys.executable).parent / "knowrl"), "run", "--recipe", "demo", "--no-live"]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        raise RuntimeError(f"run {name} failed (exit {done.returncode}); its home is {home}")
    comparison = _comparison(home)
    rates = {s: {r: {m: comparison[s]["metrics"][r][m] for m in MODELS} for r in RATES} for s in SETS}
    unknown_ci = comparison["unknown"]["metrics"]["incorrect_rate"]["grpo-sft"]
    gap = {m: rates["unknown"]["not_attempted_rate"][m] - rates["known"]["not_attempted_rate"][m] for m in MODELS}
    claim = {
        "fewer_incorrect_on_unknown": rates["unknown"]["incorrect_rate"]["grpo"]
        < rates["unknown"]["incorrect_rate"]["sft"]
        and unknown_ci["ci_high"] < 0,
        "no_more_refusals_on_known": rates["known"]["not_attempted_rate"]["grpo"]
        <= rates["known"]["not_attempted_rate"]["sft"],
        "trained_kept": rates["trained"]["correct_rate"]["grpo"] >= rates["trained"]["correct_rate"]["sft"] - 0.15,
        # what tests/flows/test_demo_flow.py asserts for known besides answers kept (claim 2 holds on some runs only)
        "refusal_gap_grows": gap["grpo"] > gap["sft"],
        "refuses_unknown_not_known": refused_share(comparison["known"]["moves"]["grpo-sft"], "correct")
        <= 0.5 * refused_share(comparison["unknown"]["moves"]["grpo-sft"], "incorrect"),
    }
    moves = known_refusals(comparison["known"]["moves"]["grpo-sft"])
    result = {"name": name, "seconds": round(seconds, 1), "rates": rates, "refusal_gap": gap, "claim": claim}
    result["known_refusals"] = moves
    if pass_k:
        result["known_by_sft_pass_rate"] = known_pass_rates(home, pass_k)
    result["unknown_incorrect_diff_ci"] = [unknown_ci["ci_low"], unknown_ci["ci_high"]]
    print(
        f"{name:<14} {seconds:5.0f}s  "
        + "  ".join(
            f"{s}: inc {rates[s]['incorrect_rate']['sft']:.2f}->{rates[s]['incorrect_rate']['grpo']:.2f} "
            f"ref {rates[s]['not_attempted_rate']['sft']:.2f}->{rates[s]['not_attempted_rate']['grpo']:.2f} "
            f"cor {rates[s]['correct_rate']['sft']:.2f}->{rates[s]['correct_rate']['grpo']:.2f}"
            for s in SETS
        )
        + f"  gap sft {gap['sft']:+.2f} grpo {gap['grpo']:+.2f}  "
        + f"known refused by GRPO: {_refusal_sources(moves)}  "
        + " ".join(f"{part}={held}" for part, held in claim.items()),
        flush=True,
    )
    if pass_k:
        print(f"{'':<14} known refused by GRPO by SFT's sampled pass rate: {_pass_rate_sides(result)}", flush=True)
    return result


def _pass_rate_sides(result: dict) -> str:
    counts = result["known_by_sft_pass_rate"]
    return ", ".join(
        f"{counts[f'{side}_grpo_refused']}/{counts[side]} at {label} {ANSWER_PAYS_ABOVE:.2f}"
        for side, label in (("sft_sure", ">="), ("sft_unsure", "<"))
    )


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def summarise(runs: list[dict]) -> dict:
    """Per set, rate and model: mean and min..max over the runs; the refusal gap likewise; claims held."""
    summary: dict = {
        s: {r: {m: _spread([run["rates"][s][r][m] for run in runs]) for m in MODELS} for r in RATES} for s in SETS
    }
    summary["refusal_gap"] = {m: _spread([run["refusal_gap"][m] for run in runs]) for m in MODELS}
    summary["known_refusals"] = {
        key: sum(run["known_refusals"][key] for run in runs) for key in runs[0]["known_refusals"]
    }
    if "known_by_sft_pass_rate" in runs[0]:
        summary["known_by_sft_pass_rate"] = {
            key: sum(run["known_by_sft_pass_rate"][key] for run in runs) for key in runs[0]["known_by_sft_pass_rate"]
        }
    summary["claim_held"] = {
        part: f"{sum(run['claim'][part] for run in runs)}/{len(runs)}" for part in runs[0]["claim"]
    }
    return summary


def _perturbed_rl(directory: Path) -> Path:
    source = ROOT / "demo" / "data" / "rl.jsonl"
    target = directory / "rl-perturbed.jsonl"
    target.write_text(source.read_text() + "".join(json.dumps(row) + "\n" for row in REPHRASED))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--perturbed", action="store_true", help="also run seed 0 on the RL set + 5 rephrased rows")
    parser.add_argument("--reward", choices=sorted(REWARDS), default="knowrl")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra recipe override")
    parser.add_argument("--keep", type=Path, help="keep the runs' homes under this directory")
    parser.add_argument(
        "--pass-rate-k",
        type=int,
        default=0,
        help="sample this many answers per known question from each run's SFT model and split GRPO's known refusals "
        "by SFT's pass rate (0: off)",
    )
    parser.add_argument("--smoke", action="store_true", help=f"one seed with {' '.join(SMOKE)} (CI: the path runs)")
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.overrides = args.seeds[:1], [*SMOKE, *args.overrides]

    root = args.keep or Path(tempfile.mkdtemp(prefix="knowrl-demo-claim-"))
    root.mkdir(parents=True, exist_ok=True)
    base = [*args.overrides]
    if args.reward != "knowrl":
        base.append(f"grpo.rewards={REWARDS[args.reward]}")
    plan = [(f"{args.reward}-seed{s}", [f"sft.seed={s}", f"grpo.seed={s}", *base]) for s in args.seeds]
    if args.perturbed:
        plan.append((f"{args.reward}-perturbed", [f"data.rl_source={_perturbed_rl(root)}", *base]))
    runs, first = [], None
    try:
        for name, overrides in plan:
            home = root / name
            runs.append(_run(name, home, overrides, first, args.pass_rate_k))
            first = first or home
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    summary = summarise(runs)
    for s in SETS:
        cells = "  ".join(
            f"{r.removesuffix('_rate')} "
            + " / ".join(
                f"{m} {summary[s][r][m]['mean']:.2f} [{summary[s][r][m]['min']:.2f}..{summary[s][r][m]['max']:.2f}]"
                for m in MODELS
            )
            for r in RATES
        )
        print(f"{s:<8} {cells}")
    gap = summary["refusal_gap"]
    print(f"refusal gap (unknown - known): sft {gap['sft']['mean']:+.2f}, grpo {gap['grpo']['mean']:+.2f}")
    moves = summary["known_refusals"]
    print(f"known answers GRPO refuses, all runs: {_refusal_sources(moves)}")
    if "known_by_sft_pass_rate" in summary:
        print(f"known refused by GRPO by SFT's sampled pass rate, all runs: {_pass_rate_sides(summary)}")
    print("claim held: " + ", ".join(f"{part} {held}" for part, held in summary["claim_held"].items()))
    print(json.dumps({"reward": args.reward, "runs": runs, "summary": summary}))


if __name__ == "__main__":
    main()
