"""Training stages: cold-start SFT and GRPO with TRL and LoRA, resumable from the last complete checkpoint."""
