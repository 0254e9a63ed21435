"""sync models."""
