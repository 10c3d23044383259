"""The evaluate stage: hallucination and reasoning benchmarks, the base, SFT and GRPO models side by side."""

from knowrl.evaluate.config import EvaluateConfig
from knowrl.evaluate.result import EvaluateRef
from knowrl.pipeline.spec import StageSpec

EVALUATE = StageSpec(
    name="evaluate",
    config=EvaluateConfig,
    result=EvaluateRef,
    upstream=("knowledge", "sft", "grpo"),  # knowledge: the store the factscore kind checks facts in
    packages=("knowrl.evaluate", "knowrl.judges", "knowrl.method", "knowrl.rewards"),
    run="knowrl.evaluate.stage:run_evaluate_stage",
    report="knowrl.evaluate.report:evaluate_report",
    gpu=True,
    description="benchmarks: base vs SFT vs GRPO",
)
