"""Entry module for the ``celery`` command: builds the configured app once per worker process."""

from app import create_app
from app.worker.celery_app import create_celery

flask_app = create_app()
celery = create_celery(flask_app)
