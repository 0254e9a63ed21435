"""Running GroupSync in production: liveness, readiness and Prometheus metrics."""
