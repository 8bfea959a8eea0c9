"""Record the plan's dependencies: task_edges (run, task, upstream task).

Revision: 0002
Parent: 0001
Written: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the task_edges table."""
    op.create_table(
        "task_edges",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("upstream_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "task_id", "upstream_id", name="pk_task_edges"),
    )


def downgrade() -> None:
    """Drop the task_edges table."""
    op.drop_table("task_edges")
