"""The national data set, planned in memory (deterministic: one seeded RNG).

Shares from /work/shared/DOMAIN.md "Scale": 3 096 CTG over ~100 Cafs, 56 % at
commune level, co-signatories MSA 198, CD 191, préfet 39, Cnam 27, ARS 11, région 7,
thématique coverage, 20-60 actions per CTG, four quarters of suivis, ~20 documents
per CTG. The bench personas (who the load driver plays) are picked from it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

_NS = uuid.UUID("3c1f6a2e-9d4b-4e1a-8f7c-2b5d6e7f8a90")
TOTAL_CTG = 3096


def bench_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NS, name)


@dataclass(frozen=True)
class Scale:
    cafs: int
    conventions: int
    actions: tuple[int, int]
    documents_per_convention: int
    persons: int


SCALES: dict[str, Scale] = {
    "national": Scale(
        cafs=100, conventions=3096, actions=(20, 60), documents_per_convention=20, persons=4000
    ),
    "tiny": Scale(cafs=3, conventions=12, actions=(10, 20), documents_per_convention=3, persons=40),
}

# Co-signatories beyond the Caf and the collectivités: (type, count among 3 096 CTG).
CO_SIGNATORIES = (
    ("MSA", 198),
    ("Conseil départemental", 191),
    ("Préfet", 39),
    ("Cnam", 27),
    ("ARS", 11),
    ("Conseil régional", 7),
)
THEMATIQUES = (
    ("petite enfance", 0.94),
    ("enfance", 0.95),
    ("jeunesse", 0.95),
    ("parentalité", 0.79),
    ("animation de la vie sociale", 0.64),
    ("accès aux droits et aux services", 0.60),
    ("logement", 0.31),
    ("handicap", 0.21),
    ("inclusion numérique", 0.22),
)
AXES = (
    "Répondre aux besoins d'accueil diversifiés des jeunes enfants",
    "Renforcer l'accès des enfants et adolescents aux activités péri et extrascolaires",
    "Favoriser l'autonomie et l'accès aux droits des adolescents et des jeunes adultes",
    "Soutenir les parents dans l'exercice de leur rôle",
    "Favoriser l'accès et le maintien dans le logement",
    "Renforcer la solidarité et la cohésion sociale",
    "Sécuriser et accompagner les habitants allocataires",
    "Renforcer les coopérations avec les partenaires locaux",
)


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def last_quarters(today: dt.date, n: int = 4) -> list[str]:
    """The n quarters ending with today's, oldest first ("2026-T1"...)."""
    year, q = quarter_of(today)
    out = []
    for _ in range(n):
        out.append(f"{year}-T{q}")
        q -= 1
        if q == 0:
            year, q = year - 1, 4
    return out[::-1]


@dataclass
class Organisation:
    id: uuid.UUID
    type: str  # Caf, Commune, EPCI, MSA...
    nom: str
    code: str
    population: int | None = None


@dataclass
class Convention:
    id: uuid.UUID
    index: int
    caf: Organisation
    echelon: str
    titre: str
    statut: str
    date_debut: dt.date
    date_fin: dt.date
    collectivites: list[Organisation]
    autres: list[Organisation]
    thematiques: list[str]
    n_actions: int

    @property
    def signataire_ids(self) -> list[uuid.UUID]:
        return [self.caf.id, *(o.id for o in self.collectivites), *(o.id for o in self.autres)]


@dataclass
class Plan:
    scale_name: str
    seed: int
    today: dt.date
    cafs: list[Organisation]
    conventions: list[Convention]
    national: Organisation
    periodes: list[str]
    organisations: dict[uuid.UUID, Organisation] = field(default_factory=dict)

    @property
    def current_periode(self) -> str:
        return self.periodes[-1]


def plan(scale_name: str, seed: int, today: dt.date) -> Plan:
    scale = SCALES[scale_name]
    rng = random.Random(seed)
    cafs = [
        Organisation(bench_id(f"caf:{i}"), "Caf", f"Caf {i + 1:03d}", f"CAF{i + 1:03d}")
        for i in range(scale.cafs)
    ]
    national = Organisation(bench_id("cnaf"), "Cnaf", "Cnaf", "CNAF")
    orgs = {o.id: o for o in [*cafs, national]}
    ratio = scale.conventions / TOTAL_CTG
    # Exact counts of co-signatories, spread over random conventions.
    co_sign: dict[int, list[str]] = {}
    for kind, count in CO_SIGNATORIES:
        for idx in rng.sample(
            range(scale.conventions), max(1 if ratio < 1 else 0, round(count * ratio))
        ):
            co_sign.setdefault(idx, []).append(kind)
    conventions: list[Convention] = []
    for i in range(scale.conventions):
        # Caf 0 is the bench's Caf: a fair share of conventions, all in force today.
        caf = cafs[i % scale.cafs]
        commune_level = rng.random() < 0.56
        if commune_level:
            collectivites = [
                Organisation(
                    bench_id(f"commune:{i}:0"),
                    "Commune",
                    f"Commune {i:04d}",
                    f"{10000 + i:05d}",
                    rng.randint(800, 60000),
                )
            ]
        else:
            epci = Organisation(bench_id(f"epci:{i}"), "EPCI", f"Communauté {i:04d}", f"2{i:08d}")
            members = [
                Organisation(
                    bench_id(f"commune:{i}:{k}"),
                    "Commune",
                    f"Commune {i:04d}-{k}",
                    f"{50000 + i * 8 + k:05d}",
                    rng.randint(300, 20000),
                )
                for k in range(rng.randint(1, 5))
            ]
            collectivites = [epci, *members]
        autres = [
            Organisation(
                bench_id(f"{kind}:{caf.code}"), kind, f"{kind} ({caf.nom})", kind[:4].upper()
            )
            for kind in co_sign.get(i, [])
        ]
        start_year = rng.choice((2022, 2023, 2024, 2025, 2026)) if i % scale.cafs else 2025
        en_prep = rng.random() < 0.05 and i % scale.cafs != 0
        thematiques = [t for t, share in THEMATIQUES if rng.random() < share] or ["petite enfance"]
        conv = Convention(
            id=bench_id(f"convention:{i}"),
            index=i,
            caf=caf,
            echelon="commune" if commune_level else "intercommunal",
            titre=f"CTG {collectivites[0].nom} {start_year}-{start_year + 4}",
            statut="en préparation" if en_prep else "signée",
            date_debut=dt.date(start_year, 1, 1),
            date_fin=dt.date(start_year + 4, 12, 31),
            collectivites=collectivites,
            autres=autres,
            thematiques=thematiques,
            n_actions=rng.randint(*scale.actions),
        )
        conventions.append(conv)
        for o in [*collectivites, *autres]:
            orgs.setdefault(o.id, o)
    return Plan(scale_name, seed, today, cafs, conventions, national, last_quarters(today), orgs)


@dataclass(frozen=True)
class Personas:
    """Who the load driver plays, as (subject, grants) pairs."""

    contributeur_subject: str
    contributeur_org: uuid.UUID
    caf_agent_subject: str
    caf_id: uuid.UUID
    national_subject: str
    national_org: uuid.UUID
    # Conventions of the contributeur's collectivité (all in force).
    contributeur_conventions: list[uuid.UUID]
    caf_conventions: list[uuid.UUID]


def personas(p: Plan) -> Personas:
    caf = p.cafs[0]
    caf_convs = [c for c in p.conventions if c.caf.id == caf.id and c.statut == "signée"]
    # The contributeur: a commune of a commune-level convention of Caf 0.
    mine = next((c for c in caf_convs if c.echelon == "commune"), caf_convs[0])
    commune = mine.collectivites[0]
    return Personas(
        contributeur_subject=str(bench_id("person:contributeur")),
        contributeur_org=commune.id,
        caf_agent_subject=str(bench_id("person:caf-agent")),
        caf_id=caf.id,
        national_subject=str(bench_id("person:national")),
        national_org=p.national.id,
        contributeur_conventions=[c.id for c in caf_convs if commune.id in c.signataire_ids],
        caf_conventions=[c.id for c in caf_convs],
    )
