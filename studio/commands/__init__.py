"""CLI command modules; see ``studio.cli``."""
