"""What the documents service's history follows (`kernel.history`): a document's
metadata and its versions' (file name, size, type, fingerprint), never their content.
The description is free text a purge erases (`repository.purge_bin`): its changes are
recorded without their values, so the append-only history never holds it."""

from __future__ import annotations

from kernel.history import History, Kind
from services.documents.models import historique

HISTORY = History(historique, "documents")

DEPOT = "dépôt"
NOUVELLE_VERSION = "nouvelle version"
CORBEILLE = "mise à la corbeille"
RESTAURATION = "restauration"
PURGE = "purge"

DOCUMENT = Kind(
    "document",
    {
        "titre": "Titre",
        "type": "Type",
        "description": "Description",
        "action_id": "Action",
        "bilan_id": "Bilan",
        "organisation_id": "Organisation qui l'a déposé",
        "supprime_le": "Mis à la corbeille le",
        "purge_le": "Purgé le",
    },
    title="titre",
    withheld=frozenset({"description"}),
)

# A version: under its document (the parent), of the document's convention.
VERSION = Kind(
    "version",
    {
        "numero": "Numéro",
        "libelle": "Libellé",
        "nom_fichier": "Nom du fichier",
        "taille": "Taille (octets)",
        "type_contenu": "Type de contenu",
        "sha256": "Empreinte SHA-256",
    },
    title="nom_fichier",
    convention=None,
    parent="document_id",
)
