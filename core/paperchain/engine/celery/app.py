"""The Celery application both sides share: broker from the config, JSON only, no result backend.

Settings as Airflow's Celery executor ships them: a message is acknowledged only after its task
ran (``task_acks_late``) and given back if the worker process died (``task_reject_on_worker_lost``),
a worker takes one message at a time (``worker_prefetch_multiplier=1``), and Redis redelivers an
unacknowledged message only after ``VISIBILITY_TIMEOUT``, longer than any step should run. That
redelivery is a backstop: the reaper re-sends a killed worker's attempt as soon as its lease
expires, and whichever copy of a message comes second finds the attempt claimed and is dropped.

Each message carries its step's timeout (plus a grace) as the task's ``time_limit``. Workers run a
thread pool (the kernel's loop and its process pool do the work), which Celery does not time-limit,
so the step's own timeout is enforced where it runs: ``wait_for`` inline, and the pool process of a
``cpu_bound`` step is stopped (``engine.executor``), exactly as without Celery.
"""

from __future__ import annotations

import logging

log = logging.getLogger("paperchain.engine.celery")

TASK = "paperchain.attempt"
CHANNEL = "paperchain:attempts"  # pub/sub: a finished attempt's id, to wake whoever awaits it
VISIBILITY_TIMEOUT = 24 * 3600  # seconds; steps longer than this still run once (the fence drops the copy)
TIME_LIMIT_GRACE = 30  # seconds past a step's own timeout before Celery's time limit applies


def make_app(broker_url: str):
    from celery import Celery

    app = Celery("paperchain", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True, result_backend=None,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        task_default_queue="default", task_create_missing_queues=True,
        worker_hijack_root_logger=False, worker_send_task_events=False, task_send_sent_event=False,
        worker_enable_remote_control=False,  # no pidbox queues: the database says who is alive
    )
    return app


def queue_for(component: str) -> str:
    """The queue of a component's capability: the part of its name before the first dot ("ocr" for
    "ocr.tesseract"), so a deployment can run workers for one capability apart; else "default"."""
    prefix, dot, _ = component.partition(".")
    return prefix if dot and prefix else "default"


def send(app, attempt_id: str, queue: str, timeout: float | None) -> None:
    """Send the attempt's id (nothing else) to its queue; blocking (run it in a thread)."""
    limit = timeout + TIME_LIMIT_GRACE if timeout else None
    if limit and limit > VISIBILITY_TIMEOUT:
        log.warning("step attempt %s may run %.0f s, longer than the broker's visibility timeout (%d s): Redis "
                    "will hand its message out again meanwhile, and the fence will drop that copy", attempt_id,
                    timeout, VISIBILITY_TIMEOUT)
    app.send_task(TASK, args=[attempt_id], queue=queue, time_limit=limit, ignore_result=True)


def queue_depth(app, queue: str) -> int:
    """Messages waiting in ``queue`` (not those a worker has taken); blocking (run it in a thread)."""
    from kombu.exceptions import ChannelError

    with app.connection_for_write() as connection:
        try:
            return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
        except ChannelError:  # Redis keeps no empty list: the queue is empty
            return 0
