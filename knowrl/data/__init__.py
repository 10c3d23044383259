"""Data stage: load the RL and cold-start sets, validate and filter them, store versions in the warehouse."""

from knowrl.data.stage import run_data_stage

__all__ = ["run_data_stage"]
