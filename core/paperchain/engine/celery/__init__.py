"""The Celery executor: step attempts run on ``paperchain worker`` processes (issue 18).

The database holds the truth (``step_attempts``: each attempt's arguments, state, fenced lease and
result); Redis, the broker, only carries an attempt's id to a worker of its queue and wakes the
process awaiting it. ``attempts`` is the SQL, ``codec`` turns arguments and results into JSON,
``app`` is the Celery application, ``executor`` the engine's side, ``worker`` the worker's, and
``reaper`` re-sends what a dead worker or a lost message left behind.
"""
