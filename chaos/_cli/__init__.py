"""Subcommands of ``sentinel-chaos``, one module each (see :mod:`chaos.cli`)."""
