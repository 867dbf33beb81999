"""Scale-out: step attempts for Celery workers, the deployment's members, named leases and block counters."""

from alembic import op

from paperchain.store import tables

revision = "0002"
down_revision = "0001"


def upgrade():
    tables.METADATA.create_all(op.get_bind(), tables=tables.added_by(revision))
