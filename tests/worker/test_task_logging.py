"""Worker log records carry the Celery task id, after the redaction filter, so the id stays whole."""

from __future__ import annotations

import logging

from celery import Celery

from app.logs import RedactionFilter, RequestIdFilter
from app.worker.celery_app import TaskIdFilter


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_records_inside_a_task_carry_its_id_and_records_outside_do_not() -> None:
    handler = _Keep()
    for step in (RequestIdFilter(), RedactionFilter(), TaskIdFilter()):
        handler.addFilter(step)
    logger = logging.getLogger("tests.worker.task_logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # Handlers other tests' apps left on the root logger would filter the same record objects again.
    logger.propagate = False
    celery = Celery("task-logging-test")

    @celery.task(name="log_something")
    def log_something() -> None:
        logger.info("inside")

    try:
        # A task id whose digit runs the phone-number pattern of the redaction filter would catch.
        task_id = "5bb4a622-2138-41a5-b0fd-df33b7f59f25"
        log_something.apply(task_id=task_id)
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    inside, outside = handler.records
    assert (inside.task_id, inside.request_id) == (task_id, f"task:{task_id}")  # type: ignore[attr-defined]
    assert (outside.task_id, outside.request_id) == ("-", "-")  # type: ignore[attr-defined]
