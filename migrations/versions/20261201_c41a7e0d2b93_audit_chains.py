"""The audit log in several chains, each with its own head, and an entry number across them.

The existing entries become chain 0 as they are (position = seq, so their hashes are unchanged:
an entry of chain 0 whose seq equals its position hashes as before partitioning); chain 0's
head is the existing head row, renumbered from 1 to 0, and the heads of chains 1 … 16 are
created empty. From now on chain 0 holds only the
anchors; new entries go to chains 1 … 16. On PostgreSQL, the entry numbers come from a sequence
that starts after the highest existing seq.

Revision ID: c41a7e0d2b93
Revises: 070c33fe3f1a
Create Date: 2026-12-01 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41a7e0d2b93"
down_revision: str | Sequence[str] | None = "070c33fe3f1a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRY_SEQ = sa.Sequence("audit_entry_seq")
#: Chains 0 … 16 (app.audit.models.HEADS, copied: a migration does not change with the code).
HEADS = 17


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("chain", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.execute("UPDATE audit_entries SET chain = 0, chain_seq = seq")
    with op.batch_alter_table("audit_entries") as batch:
        batch.alter_column("chain", existing_type=sa.SmallInteger(), nullable=False)
        batch.alter_column("chain_seq", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint(batch.f("uq_audit_entries_chain"), ["chain", "chain_seq"])
    op.execute("UPDATE audit_head SET id = 0 WHERE id = 1")
    # Every chain's head exists from the start, so no append has to create one.
    heads = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    present = {row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM audit_head"))}
    op.bulk_insert(
        heads,
        [{"id": c, "seq": 0, "hash": "0" * 64} for c in range(HEADS) if c not in present],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(ENTRY_SEQ))
        op.execute(
            "SELECT setval('audit_entry_seq', coalesce(max(seq), 0) + 1, false) FROM audit_entries"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(
        sa.text("SELECT count(*) FROM audit_entries WHERE chain <> 0 OR action = 'audit.anchor'")
    ).scalar():
        raise RuntimeError(
            "entries were written to chains 1 … 16 or anchors to chain 0: no way back"
        )
    if bind.dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(ENTRY_SEQ))
    op.execute("DELETE FROM audit_head WHERE id <> 0")
    op.execute("UPDATE audit_head SET id = 1 WHERE id = 0")
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_constraint(batch.f("uq_audit_entries_chain"), type_="unique")
        batch.drop_column("chain_seq")
        batch.drop_column("chain")
