"""Events are announced to the other servers by the transaction that records them (PostgreSQL).

A trigger on ``events`` sends each new row with ``pg_notify`` inside the inserting transaction, and
PostgreSQL delivers a transaction's notifications exactly when it commits: an event is announced if
and only if it is recorded, even when the server that wrote it dies right after its commit (an
announcement sent by the server after the commit would die with it). The payload is the row when
it fits NOTIFY's 8000-byte limit, else only its number (the receivers read the row). SQLite has a
single server and no announcements.
"""

from alembic import op

revision = "0003"
down_revision = "0002"

FUNCTION = """
CREATE OR REPLACE FUNCTION paperchain_event_announce() RETURNS trigger AS $$
DECLARE
    body text := json_build_object('s', NEW.seq, 'e', json_build_array(NEW.type, NEW.subject, NEW.time, NEW.data))::text;
BEGIN
    IF octet_length(body) > 7999 THEN
        body := json_build_object('s', NEW.seq)::text;
    END IF;
    PERFORM pg_notify('paperchain_events', body);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
TRIGGER = ("CREATE TRIGGER events_announce AFTER INSERT ON events "
           "FOR EACH ROW EXECUTE FUNCTION paperchain_event_announce()")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(FUNCTION)
        bind.exec_driver_sql(TRIGGER)
