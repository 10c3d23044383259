"""Cold-start SFT: the accepted cold-start rows rendered with the recipe's chat template and tokenized with their
loss mask (knowrl/train/sft_data.py: the assistant's whole text, reasoning included), TRL's SFTTrainer, LoRA.
Resumes from the last complete checkpoint of the same run."""

from __future__ import annotations

from typing import Any

from knowrl.data.result import DataRef
from knowrl.models import resolve_model
from knowrl.pipeline.runtime import StageContext
from knowrl.threads import configure_threads
from knowrl.train.callbacks import ProgressCallback, WarehouseLogCallback
from knowrl.train.config import SFTStageConfig
from knowrl.train.outputs import clear_run_dir, save_model_artifact
from knowrl.train.result import SFTRef
from knowrl.train.runs import load_tokenizer, run_trainer, start_run
from knowrl.train.sampling import format_share
from knowrl.train.settings import build_trl_config, hardware_adjustments, lora_config
from knowrl.train.sft_data import TemplateUse, prompt_text, template_use, tokenized_example
from storage.datasets import DatasetTables


def coldstart_rows(ctx: StageContext, coldstart_fp: str, limit: int | None) -> tuple[list[dict], list[str]]:
    """The training rows (prompt, response) and the questions the format probe samples (held-out ones when there
    are some, else training ones)."""
    tables = DatasetTables(ctx.warehouse)
    train = tables.coldstart_rows(coldstart_fp, "train")[:limit]
    heldout = [r["prompt"] for r in tables.coldstart_rows(coldstart_fp, "heldout")]
    return train, heldout or [r["prompt"] for r in train]


def sft_examples(tokenizer: Any, rows: list[dict], cfg: SFTStageConfig) -> tuple[list[dict], TemplateUse]:
    """Token ids and loss masks of the rows (knowrl/train/sft_data.py), and which template rendered them."""
    use = template_use(tokenizer, cfg)
    return [tokenized_example(tokenizer, r["prompt"], r["response"], cfg, use) for r in rows], use


# The SFT stage builds each example's loss mask itself (`assistant_masks`), for any template: TRL's own
# template-based mask is off (it needs {% generation %} markers, and R1's template drops the reasoning).
SFT_STAGE_ARGS = {"assistant_only_loss": False}


def run_sft_stage(
    cfg: SFTStageConfig,
    upstream: dict[str, Any],
    ctx: StageContext,
    code_version: str,
) -> SFTRef | None:
    configure_threads()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    data_ref: DataRef = upstream["data"]
    if not data_ref.coldstart:
        raise ValueError("the sft stage needs a cold-start set: set data.coldstart_source in the recipe")
    coldstart_fp = data_ref.coldstart.fingerprint
    base = resolve_model(cfg.base_model, ctx.paths.models, cfg.revision)
    rows, probe = coldstart_rows(ctx, coldstart_fp, cfg.limit_rows)
    if not rows:
        raise ValueError(f"cold-start set {coldstart_fp} has no training rows")
    # The base model by its reference, not its folder: the run key (and so a mirrored checkpoint) must be the same on
    # every worker, wherever its cache puts the model.
    inputs = {"coldstart": coldstart_fp, "base": f"{cfg.base_model}@{cfg.revision or 'main'}"}
    run = start_run("sft", cfg.model_dump(mode="json"), inputs, code_version, ctx)
    run_key, run_dir, resume, logs = run.key, run.directory, run.resume_from, run.logs

    tokenizer = load_tokenizer(base)
    examples, template = sft_examples(tokenizer, rows, cfg)
    ctx.progress(f"sft: {template.chat_template} template; loss mask {template.loss_mask}", None)
    model = AutoModelForCausalLM.from_pretrained(base)
    probe = [prompt_text(tokenizer, q, cfg) for q in probe[: cfg.sample_prompts]]
    seed = int(cfg.option("seed", 0))
    before = format_share(model, tokenizer, probe, cfg.sample_max_new_tokens, seed) if probe else None

    args = build_trl_config(SFTConfig, cfg, run_dir, SFT_STAGE_ARGS)
    log_cb = WarehouseLogCallback(logs, run_key, "sft")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora),
        callbacks=[
            run.mark_complete_callback(),
            log_cb,
            ProgressCallback("sft", ctx.progress),
        ],
    )
    ctx.progress(f"sft: {len(rows)} conversations, base {base.name}, run {run_dir}", 0.0)
    result, train_s = run_trainer(trainer, resume, log_cb)
    if not trainer.accelerator.is_main_process:
        return None  # rank 0 saves the artifact and returns the reference
    after = format_share(trainer.model, tokenizer, probe, cfg.sample_max_new_tokens, seed) if probe else None
    tokens = int(max((h.get("num_tokens", 0) for h in trainer.state.log_history), default=0))
    metrics = {
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "resumed_from": resume.name if resume else None,
        "tokens_seen": tokens,
        "train_seconds": round(train_s, 2),
        "format_share_before": before,
        "format_share_after": after,
        "base_model": cfg.base_model,
        "rows": len(rows),
        "chat_template": template.as_dict(),
        "hardware_adjustments": hardware_adjustments(cfg),
    }
    artifact = save_model_artifact(
        ctx,
        "sft",
        trainer,
        tokenizer,
        config=cfg.model_dump(mode="json"),
        inputs={"coldstart": coldstart_fp, "base_model": cfg.base_model},
        code_version=code_version,
        metrics=metrics,
        curves={"loss": logs.series(run_key, "loss")},
    )
    clear_run_dir(run_dir)
    ctx.progress(f"sft: done in {train_s:.1f}s, format share {before} -> {after}", 1.0)
    return SFTRef(
        fingerprint=artifact.artifact_id,
        artifact_id=artifact.artifact_id,
        model_path=str(artifact.path / "merged"),
        adapter_path=str(artifact.path / "adapter"),
        base_model_path=str(base),
        base_model=cfg.base_model,
        base_model_revision=cfg.revision,
        run_key=run_key,
        metrics=metrics,
    )
