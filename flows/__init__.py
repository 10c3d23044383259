"""Prefect flows: the pipeline as a list of stages; parameters in, stage references out."""
