"""Stable ids of the demo data set, shared by every app's demo step and by tests.

The story (Isère and Drôme): Caf A (Isère) has three conventions: a commune-level
CTG with Voiron, an intercommunal CTG with the communauté de communes du
Grésivaudan and three member communes, and Vienne's 2022-2026 CTG, recorded after
the fact, whose bilan final is adopted: ready to be renewed. Caf B (Drôme) has
Valence's CTG.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel.convention_ref import ConventionRef

_NS = uuid.UUID("0b7e6a8e-2c1d-4f5a-9e3b-7a1d2c3e4f50")


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NS, name)


# Organisations
CNAF = demo_id("org:cnaf")
# The Caf de l'Isère's agent to whom the demo's plans, suivis and documents are
# attributed, and the display name the answers give beside that id.
CAF_ISERE_AGENT = "demo:caf-isere-agent"
CAF_ISERE_AGENT_NOM = "Agent de la Caf de l'Isère (démonstration)"
CAF_ISERE = demo_id("org:caf-isere")  # Caf A
CAF_DROME = demo_id("org:caf-drome")  # Caf B
VOIRON = demo_id("org:commune-voiron")  # collectivité X of the personas
GRESIVAUDAN = demo_id("org:epci-gresivaudan")
CROLLES = demo_id("org:commune-crolles")
PONTCHARRA = demo_id("org:commune-pontcharra")
LE_TOUVET = demo_id("org:commune-le-touvet")
VIENNE = demo_id("org:commune-vienne")
VALENCE = demo_id("org:commune-valence")  # collectivité Y (autre-collectivite)
CD_ISERE = demo_id("org:cd-isere")
MSA_ALPES = demo_id("org:msa-alpes-du-nord")
# Their names: the conventions demo registers them, the other apps' replicas hold them.
NOMS = {
    CNAF: "Cnaf",
    CAF_ISERE: "Caf de l'Isère",
    CAF_DROME: "Caf de la Drôme",
    VOIRON: "Voiron",
    GRESIVAUDAN: "Communauté de communes Le Grésivaudan",
    CROLLES: "Crolles",
    PONTCHARRA: "Pontcharra",
    LE_TOUVET: "Le Touvet",
    VIENNE: "Vienne",
    VALENCE: "Valence",
    CD_ISERE: "Département de l'Isère",
    MSA_ALPES: "MSA Alpes du Nord",
}

# Conventions
CONVENTION_VOIRON = demo_id("convention:voiron-2025")
CONVENTION_GRESIVAUDAN = demo_id("convention:gresivaudan-2024")
CONVENTION_VIENNE_2022 = demo_id("convention:vienne-2022")
CONVENTION_VALENCE = demo_id("convention:valence-2025")
# Vienne's CTG, signed before the product, was recorded in it that day (ctg_existante).
VIENNE_2022_ENREGISTREE_LE = dt.date(2025, 9, 15)

# Bilans (actions) and documents other apps' demo rows point at (plain ids).
BILAN_GRESIVAUDAN = demo_id("actions:bilan:gresivaudan-intermediaire")
BILAN_FINAL_VIENNE = demo_id("actions:bilan:vienne-final")
DOCUMENT_MISE_EN_DEMEURE = demo_id("documents:gresivaudan-mise-en-demeure")


# The demo conventions with a plan, as the other apps' replicas hold them (seq 0: the feed's
# first pass replaces them), identical to what the conventions demo step creates.
# A function: the ids above are plain data that the identity provider's personas also
# use, and they should not pull the replica's machinery into that app's process.
def replica_refs() -> list[ConventionRef]:
    from kernel.convention_ref import ConventionRef, StatutConvention

    return [
        ConventionRef(
            id=CONVENTION_VOIRON,
            caf_id=CAF_ISERE,
            titre="CTG de Voiron 2025-2029",
            echelon="commune",
            statut=StatutConvention.signee,
            date_debut=dt.date(2025, 1, 1),
            date_fin=dt.date(2029, 12, 31),
            signataire_ids=(CAF_ISERE, VOIRON, CD_ISERE),
            noms={o: NOMS[o] for o in (CAF_ISERE, VOIRON, CD_ISERE)},
            seq=0,
        ),
        ConventionRef(
            id=CONVENTION_GRESIVAUDAN,
            caf_id=CAF_ISERE,
            titre="CTG du Grésivaudan 2024-2028",
            echelon="intercommunal",
            statut=StatutConvention.signee,
            date_debut=dt.date(2024, 1, 1),
            date_fin=dt.date(2028, 12, 31),
            # MSA Alpes du Nord joined by avenant n°1.
            signataire_ids=(CAF_ISERE, GRESIVAUDAN, CROLLES, PONTCHARRA, LE_TOUVET, MSA_ALPES),
            noms={
                o: NOMS[o]
                for o in (CAF_ISERE, GRESIVAUDAN, CROLLES, PONTCHARRA, LE_TOUVET, MSA_ALPES)
            },
            seq=0,
        ),
        ConventionRef(
            id=CONVENTION_VIENNE_2022,
            caf_id=CAF_ISERE,
            titre="CTG de Vienne 2022-2026",
            echelon="commune",
            statut=StatutConvention.signee,
            date_debut=dt.date(2022, 1, 1),
            date_fin=dt.date(2026, 12, 31),
            signataire_ids=(CAF_ISERE, VIENNE, MSA_ALPES),
            noms={o: NOMS[o] for o in (CAF_ISERE, VIENNE, MSA_ALPES)},
            seq=0,
            suivie_depuis=VIENNE_2022_ENREGISTREE_LE,
        ),
    ]
