"""What the actions service's history follows (`kernel.history`): the plan's axes, its
actions and sous-actions, their indicators and the indicators' values, the suivis, the
bilans and the discussions' comments, with their fields' French labels."""

from __future__ import annotations

from kernel.history import History, Kind
from services.actions.models import historique
from services.actions.rules import FICHE_LABELS

HISTORY = History(historique, "actions")

AXE = Kind(
    "axe",
    {"titre": "Titre", "description": "Description", "position": "Rang dans le plan"},
    title="titre",
)

_ACTION_FIELDS = {
    "reference": "Référence",
    "titre": "Titre",
    "axe_id": "Axe",
    "parent_id": "Action parente",
    "position": "Rang dans l'axe",
    "thematique": "Thématique",
    "date_debut": "Date de début",
    "date_echeance": "Date d'échéance",
    "priorite": "Priorité",
    "statut": "Statut",
    "porteur_ids": "Porteurs",
    "referent": "Référent",
    **FICHE_LABELS,
}
ACTION = Kind("action", _ACTION_FIELDS, title="titre")
# A sous-action's rows show in its action's history too (its parent).
SOUS_ACTION = Kind("sous-action", _ACTION_FIELDS, title="titre", parent="parent_id")

# Its parent (an action's, an axe's, or none for the convention's own) is given when
# recorded: `record_indicateur`.
INDICATEUR = Kind(
    "indicateur",
    {
        "libelle": "Libellé",
        "axe_id": "Axe",
        "nature": "Nature",
        "unite": "Unité",
        "valeur_reference": "Valeur de référence",
        "date_reference": "Date de référence",
        "cibles": "Cibles par année",
    },
    title="libelle",
)

# A value of a period: under its indicator (the parent), of the indicator's convention.
VALEUR = Kind(
    "valeur d'indicateur",
    {
        "periode": "Période",
        "valeur": "Valeur",
        "commentaire": "Commentaire",
        "source": "Source",
    },
    title="periode",
    convention=None,
    parent="indicateur_id",
)


# A quarter's suivi: under its action. Its steps keep their full record too
# (suivi_evenements, `GET …/suivis/{periode}/historique`).
SUIVI = Kind(
    "suivi",
    {
        "etat": "État",
        "revision": "Révision",
        "statut_action": "Statut de l'action",
        "avancement": "Avancement (%)",
        "realisations": "Réalisations",
        "difficultes": "Difficultés",
        "alerte": "Alerte",
        "alerte_message": "Message d'alerte",
        "valeurs": "Valeurs des indicateurs",
        "commentaire_validation": "Commentaire de validation",
    },
    title="periode",
    parent="action_id",
)


# A bilan of the convention (art. 9): its writing, the COPIL's adoption, the CDSF.
BILAN = Kind(
    "bilan",
    {
        "type": "Type",
        "periode_debut": "Début de la période",
        "periode_fin": "Fin de la période",
        "etat": "État",
        "sections": "Sections",
        "date_adoption": "Date d'adoption par le COPIL",
        "petite_enfance_transmissible": "Partie petite enfance transmise à la CDSF",
    },
    title="type",
)


# A comment of a discussion (an action's thread or one of its suivis'): under its
# action. Its text is withheld: a deleted comment's text is gone, the history never
# holds it; who posted, edited, deleted (or moderated) it and when, and whom it
# mentioned, stay.
COMMENTAIRE = Kind(
    "commentaire",
    {"texte": "Texte", "mentions": "Personnes mentionnées", "supprime_par": "Supprimé par"},
    title="periode",
    parent="action_id",
    withheld=frozenset({"texte"}),
)


def action_kind(parent_id: object) -> Kind:
    return ACTION if parent_id is None else SOUS_ACTION
