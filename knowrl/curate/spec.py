"""The curate stage: the SFT model's knowledge boundary on the RL questions, and the GRPO set a policy picks."""

from knowrl.curate.config import CurateConfig
from knowrl.curate.result import CurateRef
from knowrl.pipeline.spec import StageSpec

CURATE = StageSpec(
    name="curate",
    config=CurateConfig,
    result=CurateRef,
    upstream=("data:rl", "sft"),
    packages=("knowrl.curate", "knowrl.evaluate", "knowrl.judges", "knowrl.method"),
    run="knowrl.curate.stage:run_curate_stage",
    report="knowrl.curate.report:curate_report",
    off="knowrl.curate.result:off_result",  # off (the default): computed from the config, no model, no GPU
    optional=True,  # a recipe without a `curate:` section trains GRPO on every RL row
    gpu=True,
    description="sample the SFT model on the RL questions, bucket them, pick the GRPO set",
)
