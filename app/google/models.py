"""google models."""
