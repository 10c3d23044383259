"""The publish stage: the regression gate, a model card, the bundle; pushed to the Hub when a token is set."""

from knowrl.pipeline.spec import StageSpec
from knowrl.publish.config import PublishConfig
from knowrl.publish.result import PublishRef

PUBLISH = StageSpec(
    name="publish",
    config=PublishConfig,
    result=PublishRef,
    upstream=("data", "sft", "grpo", "evaluate"),
    packages=("knowrl.publish",),
    run="knowrl.publish.stage:run_publish_stage",
    report="knowrl.publish.report:publish_report",
    outside_inputs="knowrl.publish.config:token_presence",
    needs_recipe=True,  # the model card shows the recipe the model was trained with
    description="gate, model card, push to the Hub",
)
