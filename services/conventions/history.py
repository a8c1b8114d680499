"""What the conventions service's history follows (`kernel.history`): each kind of object,
its fields and their French labels."""

from __future__ import annotations

from kernel.history import History, Kind
from services.conventions.models import historique

HISTORY = History(historique, "conventions")

CONVENTION = Kind(
    "convention",
    {
        "titre": "Titre",
        "echelon": "Échelon",
        "date_debut": "Date de début",
        "date_fin": "Date de fin",
        "thematiques": "Thématiques",
        "objectifs_partages": "Objectifs partagés",
        "copil_presidence": "COPIL : présidence",
        "copil_secretariat": "COPIL : secrétariat",
        "copil_reunions_par_an": "COPIL : réunions par an",
        "copil_commissions": "COPIL : commissions",
        "statut": "Statut",
        "date_signature": "Date de signature",
        "ctg_existante": "CTG signée avant Coopération",
        "numero_version": "Version du texte",
        "resiliation_mode": "Résiliation : mode",
        "resiliation_date_notification": "Résiliation : date de notification",
        "resiliation_motif": "Résiliation : motif",
        "date_effet_resiliation": "Résiliation : date d'effet",
        "resiliation_initiateur_id": "Résiliation : partie qui résilie",
    },
    title="titre",
    convention="id",
)

SIGNATAIRE = Kind(
    "signataire",
    {
        "organisation_id": "Organisation",
        "representant": "Représentant",
        "deliberation_reference": "Délibération : référence",
        "deliberation_date": "Délibération : date",
        "date_signature": "Date de signature",
        "avenant_numero": "Entré par l'avenant n°",
    },
    parent="convention_id",
)

EQUIPEMENT = Kind(
    "équipement",
    {
        "organisation_id": "Signataire",
        "type": "Type",
        "nom": "Nom",
        "adresse": "Adresse",
    },
    title="nom",
    parent="convention_id",
)

MISE_EN_DEMEURE = Kind(
    "mise en demeure",
    {
        "date_envoi": "Date d'envoi",
        "emetteur_id": "Émetteur",
        "destinataire_id": "Destinataire",
        "fondement": "Fondement",
        "obligations": "Obligations",
        "lettre_document_id": "Lettre",
        "statut": "Statut",
        "date_cloture": "Date de clôture",
        "motif_cloture": "Motif de clôture",
    },
    parent="convention_id",
)

ORGANISATION = Kind(
    "organisation",
    {
        "type": "Type",
        "nom": "Nom",
        "departement": "Département",
        "code_caf": "Code Caf",
        "code_insee": "Code INSEE",
        "siren": "SIREN",
        "population": "Population",
        "epci_id": "EPCI",
        "ao_recenser": "AO : recenser",
        "ao_informer": "AO : informer",
        "ao_planifier": "AO : planifier",
        "ao_qualite": "AO : qualité",
    },
    title="nom",
    convention=None,
)
