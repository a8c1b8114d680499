"""the gateway's domain events (kernel.outbox) replace the invitations' outbox

Invitations, access requests and their decisions are recorded as events that the
notifications service follows; it e-mails invitations to the invitee. The former
`outbox` held the invitations for a mailer that never came: those still pending
(unsent, the invitation awaiting acceptance and not expired) become `invitation.creee`
events, so the notifications service e-mails them once this lands; the table goes.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kernel.migrations import create_outbox

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox("gateway")
    # The same payload as gateway.habilitations.events.invitation_payload, in creation
    # order; the Cafs concerned from the replica as it is now.
    op.execute(
        """
        INSERT INTO gateway.evenements (id, type, le, auteur_id, donnees)
        SELECT gen_random_uuid(), 'invitation.creee', o.created_at, i.created_by::text,
               jsonb_build_object(
                   'invitation_id', i.id::text,
                   'email', i.email,
                   'organisation_id', i.organisation_id::text,
                   'organisation_type', i.organisation_kind,
                   'role', i.role,
                   'expire_le', to_jsonb(i.expires_at),
                   'jeton', o.payload->>'token',
                   'invite_par', p.name,
                   'caf_ids', CASE
                       WHEN i.organisation_kind = 'caf'
                           THEN jsonb_build_array(i.organisation_id::text)
                       ELSE COALESCE((
                           SELECT jsonb_agg(DISTINCT c.caf_id::text)
                           FROM gateway.convention_ref c
                           WHERE i.organisation_id = ANY(c.signataire_ids)
                             AND c.caf_id <> i.organisation_id
                       ), '[]'::jsonb)
                   END
               )
        FROM gateway.outbox o
        JOIN gateway.invitations i ON i.id = (o.payload->>'invitation_id')::uuid
        LEFT JOIN gateway.persons p ON p.id = i.created_by
        WHERE o.kind = 'invitation' AND o.sent_at IS NULL
          AND i.status = 'en attente' AND i.expires_at > now() AND i.email IS NOT NULL
        ORDER BY o.id
        """
    )
    op.drop_table("outbox", schema="gateway")


def downgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="gateway",
    )
    op.create_index(op.f("ix_outbox_created_at"), "outbox", ["created_at"], schema="gateway")
    op.create_index(op.f("ix_outbox_sent_at"), "outbox", ["sent_at"], schema="gateway")
    op.drop_table("evenements", schema="gateway")
