"""GRPO from the SFT model: the recipe's prompt style (knowrl/method/prompts.py), its rewards over the knowledge
store, TRL's GRPOTrainer with LoRA; what the judges used is recorded. Resumes from the last complete checkpoint of the
same run."""

from __future__ import annotations

import importlib.util
from typing import Any

from knowrl.curate.result import CurateRef
from knowrl.curate.stage import left_out_rows
from knowrl.data.result import DataRef
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.judges.usage import usage_line, usage_rows
from knowrl.knowledge.result import KnowledgeRef
from knowrl.knowledge.stage import open_store, rows_to_drop
from knowrl.method.prompts import training_prompt
from knowrl.pipeline.runtime import StageContext
from knowrl.rewards import RewardScorer, build_reward_functions
from knowrl.rewards.monitors import MonitoredRewardLog
from knowrl.stage_outputs import model_dir
from knowrl.threads import configure_threads
from knowrl.train.callbacks import HealthCallback, ProgressCallback, WarehouseLogCallback
from knowrl.train.checkpoints import last_complete_checkpoint
from knowrl.train.config import GRPOStageConfig
from knowrl.train.health import MONITOR_KEYS, TrainingStoppedError, unmeasured
from knowrl.train.outputs import clear_run_dir, save_model_artifact
from knowrl.train.report import stopped_report
from knowrl.train.result import GRPORef, HealthStop, SFTRef
from knowrl.train.runs import TrainingRun, load_tokenizer, run_trainer, start_run
from knowrl.train.settings import build_trl_config, hardware_adjustments, is_main_rank, lora_config
from knowrl.transport.cache import writes_flushed
from storage.datasets import DatasetTables
from storage.llm_cache import LLMCache
from storage.llm_usage import LLMUsage


def grpo_rows(
    ctx: StageContext, rl_fp: str, tokenizer: Any, cfg: GRPOStageConfig, drop: set[str] | None = None
) -> list[dict[str, Any]]:
    """The RL rows as TRL's dataset: the prompt in the recipe's style, and the columns the rewards read."""
    rows = [r for r in DatasetTables(ctx.warehouse).rl_rows(rl_fp, "train") if r["row_id"] not in (drop or set())]
    rows = rows[: cfg.limit_rows]
    return [
        {
            "prompt": training_prompt(tokenizer, r["question"], cfg.prompt_style),
            "question": r["question"],
            "answers": list(r["answers"]),
            "titles": list(r["titles"]),
            "topic": r["topic"],
        }
        for r in rows
    ]


def build_scorer(cfg: GRPOStageConfig, knowledge_ref: KnowledgeRef, ctx: StageContext) -> RewardScorer:
    # One DuckDB writer: under a multi-GPU launch only rank 0 caches judge calls (the others call through).
    cache = LLMCache(ctx.warehouse) if is_main_rank() else None
    return RewardScorer(
        judge=build_judge(cfg.judge, cache),
        extractor=build_extractor(cfg.extractor, cache),
        verifier=build_verifier(cfg.verifier, cache),
        store=open_store(knowledge_ref, ctx),
        top_k=cfg.verifier.top_k,
        threshold=cfg.verifier.entailment_threshold,
        query=cfg.verifier.query,
        rules=cfg.reward_rules,
        failure_window=cfg.judge_failure_window,
        max_failure_rate=cfg.judge_max_failure_rate,
    )


def grpo_stage_args(cfg: GRPOStageConfig) -> dict[str, Any]:
    """What the GRPO stage sets in TRL's config itself: the rewards' weights, and vLLM only where it is installed."""
    return {
        "reward_weights": [r.weight for r in cfg.rewards],
        "log_completions": False,
        "use_vllm": bool(cfg.option("use_vllm")) and importlib.util.find_spec("vllm") is not None,
    }


def prompt_tokens(tokenizer: Any, prompt: str | list[dict[str, str]]) -> int:
    """The prompt's length as TRL tokenizes it: a conversation through the template with its generation prompt,
    a string with the tokenizer's special tokens."""
    if isinstance(prompt, str):
        return len(tokenizer(prompt)["input_ids"])
    return len(tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True))


def keep_prompts_that_fit(rows: list[dict[str, Any]], tokenizer: Any, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Rows whose prompt has at most `limit` tokens, and the number left out. TRL 1.x has no prompt limit of its
    own; the authors' TRL runs cut prompts at 256 (their prompts practically never reach it)."""
    kept = [r for r in rows if prompt_tokens(tokenizer, r["prompt"]) <= limit]
    return kept, len(rows) - len(kept)


def run_grpo_stage(
    cfg: GRPOStageConfig,
    upstream: dict[str, Any],
    ctx: StageContext,
    code_version: str,
) -> GRPORef | None:
    configure_threads()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    data: DataRef = upstream["data"]
    sft: SFTRef = upstream["sft"]
    knowledge: KnowledgeRef = upstream["knowledge"]
    rl_fp = data.rl.fingerprint
    sft_path = model_dir(ctx, sft)  # downloaded into this worker's cache when another worker trained it
    drop = rows_to_drop(knowledge, ctx)
    if drop:
        ctx.progress(f"grpo: leaving out {len(drop)} questions without any title in the knowledge store", None)
    inputs = {"rl": rl_fp, "sft": sft.fingerprint, "knowledge": knowledge.fingerprint}
    curate: CurateRef | None = upstream.get("curate")  # off (or absent): GRPO trains on every row
    if curate is not None and curate.enabled:
        drop = drop | left_out_rows(curate, ctx)
        inputs["curate"] = curate.fingerprint
        ctx.progress(f"grpo: the curated set, {curate.kept} of {curate.questions} questions ({curate.policy})", None)
    # The health limits are left out of the run's identity: a run they stopped resumes from its kept checkpoint when
    # they are relaxed (the stage's cache key still holds them, so the stage runs again).
    run = start_run("grpo", cfg.model_dump(mode="json", exclude={"health"}), inputs, code_version, ctx)
    run_key, run_dir, resume, logs = run.key, run.directory, run.resume_from, run.logs
    if cfg.option("use_vllm") and importlib.util.find_spec("vllm") is None:
        ctx.progress("grpo: use_vllm is set but vllm is not installed; generating with transformers", None)

    tokenizer = load_tokenizer(sft_path)
    rows = grpo_rows(ctx, rl_fp, tokenizer, cfg, drop)
    if not rows:
        raise ValueError(f"RL set {rl_fp} has no training rows")
    rows, too_long = keep_prompts_that_fit(rows, tokenizer, cfg.max_prompt_tokens)
    if too_long:
        ctx.progress(f"grpo: left out {too_long} prompts longer than max_prompt_tokens={cfg.max_prompt_tokens}", None)
    if not rows:
        raise ValueError(f"every prompt is longer than grpo.max_prompt_tokens={cfg.max_prompt_tokens}; raise it")
    scorer = build_scorer(cfg, knowledge, ctx)
    reward_log = MonitoredRewardLog()
    reward_funcs, _ = build_reward_functions(cfg.rewards, scorer, reward_log)
    model = AutoModelForCausalLM.from_pretrained(sft_path)
    log_cb = WarehouseLogCallback(logs, run_key, "grpo")
    health_cb = HealthCallback(cfg.health)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=build_trl_config(GRPOConfig, cfg, run_dir, grpo_stage_args(cfg)),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora),
        callbacks=[
            health_cb,
            run.mark_complete_callback(),
            log_cb,
            ProgressCallback("grpo", ctx.progress),
        ],
    )
    ctx.progress(
        f"grpo: {len(rows)} prompts x {trainer.args.num_generations} generations, rewards "
        f"{[r.name for r in cfg.rewards]} ({cfg.reward_rules} rules), prompts as {cfg.prompt_style}, run {run_dir}",
        0.0,
    )
    run.mark("grpo", "started")

    def keep_model() -> bool:  # a run stopped by a health limit that fails the stage needs no final adapter
        return health_cb.trip is None or cfg.health.on_trip == "warn"

    with writes_flushed():  # the last steps' cached replies, which the scorer writes in the background
        result, train_s = run_trainer(trainer, resume, log_cb, save_model=keep_model)
    stopped = _stopped(health_cb, run, cfg, ctx)
    if not trainer.accelerator.is_main_process:
        return None  # rank 0 saves the artifact and returns the reference
    never = unmeasured(cfg.health, trainer.state.log_history)
    if never:
        ctx.progress(
            f"grpo: WARNING: grpo.health limits on {never} never applied: no logged step measured them (a monitor of "
            "facts needs a reward that checks facts: factuality or combined)",
            None,
        )
    usage = usage_rows({"judge": scorer.judge, "extractor": scorer.extractor, "verifier": scorer.verifier})
    LLMUsage(ctx.warehouse).record("grpo", run_key, usage)
    ctx.progress(f"grpo: {usage_line(usage)}", None)
    rewards = logs.series(run_key, "reward")
    half = max(1, len(rewards) // 2)
    metrics = {
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "resumed_from": resume.name if resume else None,
        "train_seconds": round(train_s, 2),
        "reward_first_half": _mean([v for _, v in rewards[:half]]),
        "reward_second_half": _mean([v for _, v in rewards[half:]]),
        "reward_first": rewards[0][1] if rewards else None,
        "reward_last": rewards[-1][1] if rewards else None,
        "backend_calls": scorer.stats(),
        "llm_usage": usage,
        "prompt_style": cfg.prompt_style,
        "reward_rules": cfg.reward_rules,
        "hardware_adjustments": hardware_adjustments(cfg),
        "rows": len(rows),
        "prompts_too_long": too_long,
        "health": {
            "status": "stopped" if stopped else "healthy",
            "reason": stopped.line() if stopped else None,
            "unmeasured": never,
            "config": cfg.health.model_dump(mode="json"),
        },
    }
    curves = {
        name: logs.series(run_key, metric)
        for name, metric in (
            ("reward", "reward"),
            ("format", "rewards/format/mean"),
            ("combined", "rewards/combined/mean"),
            ("kl", "kl"),
            ("completion length", "completions/mean_length"),
            *((name.replace("_", " "), key) for name, key in MONITOR_KEYS.items() if key.startswith("knowrl/")),
        )
    }
    artifact = save_model_artifact(
        ctx,
        "grpo",
        trainer,
        tokenizer,
        config=cfg.model_dump(mode="json"),
        inputs=inputs,
        code_version=code_version,
        metrics=metrics,
        curves={k: v for k, v in curves.items() if v},
    )
    if stopped is None:
        clear_run_dir(run_dir)
        run.mark("grpo", "completed", step=trainer.state.global_step)
        ctx.progress(
            f"grpo: done in {train_s:.1f}s; mean reward {metrics['reward_first_half']} (first half) -> "
            f"{metrics['reward_second_half']} (second half)",
            1.0,
        )
    else:  # on_trip: warn. The run stays marked stopped, and its checkpoints stay for a rerun to resume from.
        ctx.progress(f"grpo: WARNING: {stopped.line()}; the stage completes with the stopped model", 1.0)
    return GRPORef(
        fingerprint=artifact.artifact_id,
        artifact_id=artifact.artifact_id,
        model_path=str(artifact.path / "merged"),
        adapter_path=str(artifact.path / "adapter"),
        curves_png=str(artifact.path / "curves.png"),
        run_key=run_key,
        inputs=inputs,
        metrics=metrics,
        stopped=stopped,
    )


def _stopped(
    health_cb: HealthCallback, run: TrainingRun, cfg: GRPOStageConfig, ctx: StageContext
) -> HealthStop | None:
    """After training: None when no health limit tripped; else the stop, marked in the warehouse (`train_runs`)
    with the checkpoint kept, and, with grpo.health.on_trip: fail, the stage's failure (its report attached)."""
    trip = health_cb.trip
    if trip is None:
        return None
    checkpoint = last_complete_checkpoint(run.directory)  # the trip's step was not saved: this one precedes it
    stop = HealthStop(
        monitor=trip.monitor,
        step=trip.step,
        first_step=trip.first_step,
        stopped_at=health_cb.stopped_at if health_cb.stopped_at is not None else trip.step,
        value=trip.value,
        reason=trip.reason,
        checkpoint=str(checkpoint) if checkpoint else None,
        on_trip=cfg.health.on_trip,
    )
    run.mark("grpo", "stopped", reason=stop.line(), step=stop.stopped_at, checkpoint=stop.checkpoint)
    ctx.progress(f"grpo: {stop.line()}", None)
    if cfg.health.on_trip == "warn":
        return stop
    kept = f"kept {checkpoint.name} in {run.directory}" if checkpoint else "no checkpoint was saved before it"
    message = (
        f"{stop.line()}; {kept}; run {run.key} is marked 'stopped' in the warehouse (train_runs). Relax grpo.health "
        "(the run resumes from the kept checkpoint), fix the reward, or set grpo.health.on_trip: warn to evaluate the "
        "stopped model"
    )
    report = stopped_report(ctx, run.key, cfg.health, stop) if is_main_rank() else None
    raise TrainingStoppedError(message, report=report)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
