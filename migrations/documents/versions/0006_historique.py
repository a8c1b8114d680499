"""The documents' history (kernel.history): uploads, new versions, changes, the bin,
restorations and purges, by whom (name at the time), when, through which client;
append-only

Existing documents get the rows their columns already tell: each version's upload (by
its uploader, at its time; the first one the document's), the move to the bin of those
in it, the purge of those purged (by the system). Their authors are named as the
gateway knows them, when its schema is in the same database; the client they used was
not recorded: null.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import create_history, name_former_authors

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history("documents")
    op.execute(
        """
        INSERT INTO documents.historique
            (convention_id, objet_type, objet_id, objet_libelle, evenement, auteur_id, le)
        SELECT d.convention_id, 'document', d.id, left(d.titre, 300), 'dépôt', d.depose_par,
               d.depose_le
        FROM documents.document d
        """
    )
    op.execute(
        """
        INSERT INTO documents.historique
            (convention_id, objet_type, objet_id, parent_id, objet_libelle, evenement,
             auteur_id, le)
        SELECT d.convention_id, 'version', v.id, d.id, left(v.nom_fichier, 300),
               CASE WHEN v.numero = 1 THEN 'dépôt' ELSE 'nouvelle version' END,
               v.depose_par, v.depose_le
        FROM documents.version v JOIN documents.document d ON d.id = v.document_id
        """
    )
    op.execute(
        """
        INSERT INTO documents.historique
            (convention_id, objet_type, objet_id, objet_libelle, evenement, auteur_id, le)
        SELECT d.convention_id, 'document', d.id, left(d.titre, 300), 'mise à la corbeille',
               d.supprime_par, d.supprime_le
        FROM documents.document d
        WHERE d.supprime_le IS NOT NULL AND d.supprime_par IS NOT NULL
        """
    )
    op.execute(
        """
        INSERT INTO documents.historique
            (convention_id, objet_type, objet_id, objet_libelle, evenement, auteur_id,
             auteur_nom, le)
        SELECT d.convention_id, 'document', d.id, left(d.titre, 300), 'purge', 'système',
               'Coopération (traitement automatique)', d.purge_le
        FROM documents.document d
        WHERE d.purge_le IS NOT NULL
        """
    )
    name_former_authors("documents.historique", "historique_append_only")


def downgrade() -> None:
    op.drop_table("historique", schema="documents")
    op.execute("DROP FUNCTION documents.refuse_rewriting_history()")
