"""Evaluate stage: hallucination and reasoning benchmarks, base model against trained model, with a report."""
