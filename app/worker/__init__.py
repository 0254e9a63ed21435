"""Running syncs: plain task functions, and two ways to run them (embedded thread or Celery)."""
