"""Publish stage: regression gate, model card, bundle in the artifact store, push to the Hugging Face Hub."""
