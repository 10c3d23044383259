"""Curate stage: the knowledge boundary of the SFT model, k sampled answers per RL question, and the GRPO set a
recipe policy picks from the buckets (always correct, sometimes, never correct, always refused)."""
