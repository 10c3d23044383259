"""The data stage: download the RL and cold-start sets (Hub id or local file), validate, filter, load into DuckDB."""

from knowrl.data.config import DataConfig
from knowrl.data.result import DataRef
from knowrl.pipeline.spec import StageSpec

DATA = StageSpec(
    name="data",
    config=DataConfig,
    result=DataRef,
    packages=("knowrl.data",),
    run="knowrl.data.stage:run_data_stage",
    report="knowrl.data.report:data_report",
    outside_inputs="knowrl.data.stage:probe_sources",  # the sources as they are now: a new revision is new data
    stop_reason="knowrl.data.stage:already_trained_on",  # scheduled retraining on unchanged data stops here
    retries=3,
    description="load, validate and filter the RL and cold-start sets",
)
