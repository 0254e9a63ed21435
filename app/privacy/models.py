"""privacy models."""
