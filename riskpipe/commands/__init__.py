"""Subcommands of the riskpipe CLI."""
