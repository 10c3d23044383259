"""Multi-GPU training: run a training stage under `accelerate launch` with a DeepSpeed ZeRO config.

The stage task writes the stage's config and upstream references to a spec file and launches
`accelerate launch --use_deepspeed ... -m knowrl.train.launch SPEC OUT` on all visible GPUs; every rank
runs the stage, rank 0 writes the result reference to OUT, which the task reads back. On CPU, or on one
GPU, the task calls the stage in its own process instead (no launcher).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowrl import resources
from knowrl.pipeline.refs import StageRef, dump_refs

if TYPE_CHECKING:
    from knowrl.train.config import GRPOStageConfig, SFTStageConfig


def gpus_to_launch(deepspeed: str | None) -> int:
    """Processes to launch: the GPU count when a ZeRO config is chosen and we are not already a launched rank."""
    if not deepspeed or "LOCAL_RANK" in os.environ:
        return 0
    import torch

    count = torch.cuda.device_count()
    return count if count > 1 else 0


def launch_command(spec: Path, out: Path, processes: int, deepspeed: str) -> list[str]:
    config = resources.deepspeed_config(deepspeed)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(processes),
        "--use_deepspeed",
        "--deepspeed_config_file",
        str(config),
        "--mixed_precision",
        "bf16",
        "-m",
        "knowrl.train.launch",
        str(spec),
        str(out),
    ]


def _result(data: dict[str, Any]) -> StageRef:
    """A result written by the launched rank, or an upstream result in the spec file, typed by its `stage` field."""
    from pydantic import TypeAdapter

    from knowrl.curate.result import CurateRef
    from knowrl.data.result import DataRef
    from knowrl.knowledge.result import KnowledgeRef
    from knowrl.train.result import GRPORef, SFTRef

    return TypeAdapter(DataRef | KnowledgeRef | SFTRef | CurateRef | GRPORef).validate_python(data)


def _spec(stage: str) -> Any:
    from knowrl.train.spec import GRPO, SFT

    return SFT if stage == "sft" else GRPO


def run_distributed(
    stage: str, config: dict[str, Any], upstream: dict[str, Any], processes: int, deepspeed: str
) -> Any:
    with tempfile.TemporaryDirectory(prefix=f"knowrl-{stage}-") as tmp:
        spec, out = Path(tmp) / "spec.json", Path(tmp) / "ref.json"
        spec.write_text(json.dumps({"stage": stage, "config": config, "upstream": dump_refs(upstream)}))
        subprocess.run(launch_command(spec, out, processes, deepspeed), check=True)
        if not out.exists():
            raise RuntimeError(f"distributed {stage} run ended without a result; see the launcher's output above")
        return _result(json.loads(out.read_text()))


def _run_here(stage: str, config: Any, upstream: dict[str, Any], ctx: Any) -> Any:
    """One process's part of a training stage (the whole stage without a launcher, one rank's share under one)."""
    from knowrl.pipeline.keys import code_version

    code = code_version(_spec(stage))
    if stage == "sft":
        from knowrl.train.sft import run_sft_stage

        return run_sft_stage(config, upstream, ctx, code)
    from knowrl.train.grpo import run_grpo_stage

    return run_grpo_stage(config, upstream, ctx, code)


def run_training_stage(
    stage: str, config: SFTStageConfig | GRPOStageConfig, upstream: dict[str, Any], ctx: Any
) -> StageRef:
    """Run SFT or GRPO: under `accelerate launch`, one process per GPU, with several GPUs and a ZeRO config
    (`config.deepspeed`); in this process otherwise (CPU, one GPU)."""
    processes = gpus_to_launch(config.deepspeed)
    if processes:
        return run_distributed(stage, config.model_dump(mode="json"), upstream, processes, config.deepspeed or "")
    return _run_here(stage, config, upstream, ctx)


def train_sft(config: SFTStageConfig, upstream: dict[str, Any], ctx: Any) -> StageRef:
    """The sft stage's run function (its spec names it)."""
    return run_training_stage("sft", config, upstream, ctx)


def train_grpo(config: GRPOStageConfig, upstream: dict[str, Any], ctx: Any) -> StageRef:
    """The grpo stage's run function (its spec names it)."""
    return run_training_stage("grpo", config, upstream, ctx)


def main(spec_path: str, out_path: str) -> None:
    from knowrl.pipeline.runtime import StageContext

    spec = json.loads(Path(spec_path).read_text())
    config = _spec(spec["stage"]).config.model_validate(spec["config"])
    upstream = {name: _result(ref) for name, ref in spec["upstream"].items()}
    ref = _run_here(spec["stage"], config, upstream, StageContext.from_env())
    if int(os.environ.get("RANK", "0")) == 0:
        Path(out_path).write_text(json.dumps(ref.model_dump(mode="json")))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
