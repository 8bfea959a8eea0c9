"""Create the history tables: runs, task_runs, attempts, target_io.

Revision: 0001
Parent: none
Written: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# A migration is a frozen snapshot: it spells its column types out instead of importing the
# models, which will keep changing.
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four history tables and their indexes."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("executor", sa.String(64), nullable=True),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("root_tasks", sa.JSON(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])

    op.create_table(
        "task_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("family", sa.Text(), nullable=False),
        sa.Column("module", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=True),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "task_id", name="pk_task_runs"),
    )
    op.create_index("ix_task_runs_task_id", "task_runs", ["task_id"])
    op.create_index("ix_task_runs_family", "task_runs", ["family"])

    op.create_table(
        "attempts",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("celery_id", sa.String(255), nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("tracking_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "task_id", "attempt", name="pk_attempts"),
    )
    op.create_index("ix_attempts_celery_id", "attempts", ["celery_id"])

    op.create_table(
        "target_io",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "run_id", "task_id", "attempt", "direction", "uri", name="pk_target_io"
        ),
    )
    op.create_index("ix_target_io_uri", "target_io", ["uri", "direction"])


def downgrade() -> None:
    """Drop the history tables."""
    op.drop_index("ix_target_io_uri", table_name="target_io")
    op.drop_table("target_io")
    op.drop_index("ix_attempts_celery_id", table_name="attempts")
    op.drop_table("attempts")
    op.drop_index("ix_task_runs_family", table_name="task_runs")
    op.drop_index("ix_task_runs_task_id", table_name="task_runs")
    op.drop_table("task_runs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_table("runs")
