"""The `knowrl` command line."""
