"""`coop bench generate`: load the national data set with bulk SQL.

Rows are built from the services' own SQLAlchemy tables (column names, types and
constraints of their models) and loaded with PostgreSQL COPY through asyncpg
(`copy_records_to_table`), the fastest way in. The convention replicas
(`<schema>.convention_ref`) are filled consistently with the conventions.
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from coop.bench.dataset import AXES, SCALES, Plan, bench_id, personas, plan
from kernel.database import asyncpg_dsn
from services.actions.rules import EtatSuivi, StatutAction

ABANDONNEE = StatutAction.abandonnee.value

MARKER_TABLE = "public.coop_bench_dataset"
# Bumped when the generator changes: a data set from an older one is generated again.
GENERATOR_VERSION = 6
SCHEMAS = ("conventions", "actions", "documents", "gateway")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def dataset_info(url: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        exists = await conn.fetchval("SELECT to_regclass($1)", MARKER_TABLE)
        if not exists:
            return None
        row = await conn.fetchrow(f"SELECT info FROM {MARKER_TABLE} ORDER BY at DESC LIMIT 1")  # noqa: S608 (constant)
        # Tables emptied since (the tests' TRUNCATE spares the marker, in `public`):
        # no data set, whatever the marker says.
        emptied = not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM conventions.convention)")
        return None if row is None or emptied else dict(orjson.loads(row["info"]))
    finally:
        await conn.close()


class Loader:
    def __init__(self, conn: asyncpg.Connection, progress: Progress) -> None:
        self.conn = conn
        self.progress = progress
        self.counts: dict[str, int] = {}

    async def copy(self, table: Any, rows: Iterable[dict[str, Any]], batch: int = 20000) -> None:
        """COPY rows (dicts keyed by column name) into a model's table, in batches."""
        name = f"{table.schema}.{table.name}"
        task = self.progress.add_task(name, total=None)
        columns: list[str] | None = None
        buf: list[tuple[Any, ...]] = []
        n = 0

        async def flush() -> None:
            if buf and columns:
                await self.conn.copy_records_to_table(
                    table.name, schema_name=table.schema, columns=columns, records=buf
                )
                self.progress.advance(task, len(buf))
                buf.clear()

        for row in rows:
            if columns is None:
                columns = list(row)
            buf.append(tuple(row[c] for c in columns))
            n += 1
            if len(buf) >= batch:
                await flush()
        await flush()
        self.progress.update(task, total=n, completed=n)
        self.counts[name] = self.counts.get(name, 0) + n


def _table(module: str, name: str) -> Any:
    models = importlib.import_module(module)
    metadata = getattr(models, "metadata", None) or models.Base.metadata
    return metadata.tables[name]


async def _existing_tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname = ANY($1)",
        list(SCHEMAS),
    )
    return {r["t"] for r in rows}


async def _truncate(conn: asyncpg.Connection, tables: set[str]) -> None:
    todo = sorted(t for t in tables if not t.endswith(".alembic_version"))
    if todo:
        await conn.execute(f"TRUNCATE {', '.join(todo)} RESTART IDENTITY CASCADE")


def replica_rows(p: Plan) -> Iterable[dict[str, Any]]:
    for seq, c in enumerate(p.conventions, start=1):
        yield {
            "id": c.id,
            "caf_id": c.caf.id,
            "titre": c.titre,
            "echelon": c.echelon,
            "statut": c.statut,
            "date_debut": c.date_debut,
            "date_fin": c.date_fin,
            "date_effet_resiliation": None,
            "signataire_ids": c.signataire_ids,
            "seq": seq,
            # As the feed names them (jsonb: its text, for COPY).
            "noms": orjson.dumps(
                {str(o.id): o.nom for o in (c.caf, *c.collectivites, *c.autres)}
            ).decode(),
        }


async def load_actions(loader: Loader, p: Plan, rng: random.Random) -> None:
    m = "services.actions.models"
    axes_t, actions_t = _table(m, "actions.axes"), _table(m, "actions.actions")
    ind_t, suivis_t = _table(m, "actions.indicateurs"), _table(m, "actions.suivis")
    events_t = _table(m, "actions.suivi_evenements")
    valeurs_t = _table(m, "actions.valeurs_indicateurs")
    bench_caf = p.cafs[0].id
    axes: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    indicateurs: list[dict[str, Any]] = []
    suivis: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    valeurs: list[dict[str, Any]] = []
    for c in p.conventions:
        n_axes = min(len(AXES), max(2, c.n_actions // 8))
        axe_ids = [bench_id(f"axe:{c.index}:{k}") for k in range(n_axes)]
        for k, axe_id in enumerate(axe_ids):
            axes.append(
                {
                    "id": axe_id,
                    "convention_id": c.id,
                    "titre": AXES[k],
                    "description": None,
                    "position": k + 1,
                    "version": 1,
                }
            )
        porteurs_pool = [o.id for o in c.collectivites]
        for a in range(c.n_actions):
            action_id = bench_id(f"action:{c.index}:{a}")
            statut = rng.choices(
                ("en cours", "à venir", "réalisée", "en pause", "bloquée"), (60, 20, 12, 5, 3)
            )[0]
            actions.append(
                {
                    "id": action_id,
                    "convention_id": c.id,
                    "axe_id": axe_ids[a % n_axes],
                    "parent_id": None,
                    "position": a // n_axes + 1,
                    "titre": f"Action {a + 1} : {rng.choice(c.thematiques)}",
                    "thematique": rng.choice(c.thematiques),
                    "date_debut": c.date_debut,
                    "date_echeance": c.date_fin,
                    "priorite": rng.choice(("haute", "moyenne", "basse")),
                    "statut": statut,
                    "porteur_ids": rng.sample(
                        porteurs_pool, min(len(porteurs_pool), rng.randint(1, 2))
                    ),
                    "referent": "Chargé de coopération",
                    "diagnostic_initial": "Diagnostic partagé : besoins identifiés sur le territoire.",  # noqa: E501
                    "public_cible": "Familles du territoire",
                    "objectifs_operationnels": "Développer l'offre et informer les familles.",
                    "modalites_mise_en_oeuvre": None,
                    "echeances_realisation": None,
                    "services_mobilises": None,
                    "resultats_attendus": None,
                    "partenaires_sollicites": None,
                    "indicateurs_evaluation": None,
                    "specificites_ao": None,
                    "version": 1,
                }
            )
            ind_ids = [bench_id(f"indicateur:{c.index}:{a}:{k}") for k in range(rng.randint(1, 2))]
            for k, ind_id in enumerate(ind_ids):
                indicateurs.append(
                    {
                        "id": ind_id,
                        "action_id": action_id,
                        "convention_id": c.id,
                        "libelle": "Nombre de familles accompagnées" if k == 0 else "Places créées",
                        "nature": "réalisation" if k == 0 else "changement territorial",
                        "unite": "familles" if k == 0 else "places",
                        "valeur_reference": Decimal(rng.randint(0, 200)),
                        "date_reference": c.date_debut,
                        "cibles": orjson.dumps(
                            {str(c.date_debut.year + y): str(50 + 10 * y) for y in range(5)}
                        ).decode(),
                        "version": 1,
                    }
                )
            if c.statut != "signée":
                continue
            for q, periode in enumerate(p.periodes):
                current = q == len(p.periodes) - 1
                if current and c.caf.id == bench_caf:
                    etat: str | None = "brouillon"  # the bench's submissions
                elif current:
                    etat = rng.choices((None, "brouillon", "soumis", "validé"), (45, 30, 15, 10))[0]
                else:
                    etat = rng.choices(
                        ("validé", "soumis", "à compléter", "brouillon", None), (70, 15, 5, 5, 5)
                    )[0]
                if etat is None:
                    continue
                suivi_id = bench_id(f"suivi:{c.index}:{a}:{periode}")
                contenu = {"avancement": rng.randint(0, 100), "statut_action": statut}
                valeur = rng.randint(0, 80)
                if etat == "validé":
                    # A validated suivi's values are its indicators' values of the quarter.
                    valeurs.append(
                        {
                            "id": bench_id(f"valeur:{c.index}:{a}:{periode}"),
                            "indicateur_id": ind_ids[0],
                            "periode": periode,
                            "valeur": Decimal(valeur),
                            "commentaire": None,
                            "source": None,
                            "auteur": "bench",
                            "auteur_nom": None,
                            "version": 1,
                        }
                    )
                suivis.append(
                    {
                        "id": suivi_id,
                        "action_id": action_id,
                        "convention_id": c.id,
                        "periode": periode,
                        "etat": etat,
                        "revision": 1,
                        "statut_action": statut,
                        "avancement": contenu["avancement"],
                        "realisations": "Réunions partenariales tenues, actions engagées.",
                        "difficultes": None if rng.random() < 0.7 else "Recrutement difficile.",
                        "alerte": rng.random() < 0.05,
                        "alerte_message": None,
                        "valeurs": orjson.dumps(
                            [{"indicateur_id": str(ind_ids[0]), "valeur": str(valeur)}]
                        ).decode(),
                        "commentaire_validation": None,
                        "auteur": "bench",
                        "version": 1,
                    }
                )
                events.append(
                    {
                        "suivi_id": suivi_id,
                        "revision": 1,
                        "evenement": "création",
                        "etat_avant": None,
                        "etat_apres": "brouillon",
                        "commentaire": None,
                        "auteur": "bench",
                        "contenu": orjson.dumps(contenu).decode(),
                    }
                )
    # The campaign counters as the triggers of migration 0006 keep them, loaded in bulk
    # too: those triggers, run for each row, would add a third to the load's time.
    await loader.conn.execute(
        "ALTER TABLE actions.actions DISABLE TRIGGER USER;"
        "ALTER TABLE actions.suivis DISABLE TRIGGER USER"
    )
    await loader.copy(axes_t, axes)
    await loader.copy(actions_t, actions)
    await loader.copy(ind_t, indicateurs)
    await loader.copy(suivis_t, suivis)
    await loader.copy(events_t, events)
    await loader.copy(valeurs_t, valeurs)
    plans, campagnes = campaign_counters(actions, suivis)
    await loader.copy(_table(m, "actions.compteurs_plans"), plans)
    await loader.copy(_table(m, "actions.compteurs_campagnes"), campagnes)
    await loader.conn.execute(
        "ALTER TABLE actions.actions ENABLE TRIGGER USER;"
        "ALTER TABLE actions.suivis ENABLE TRIGGER USER"
    )


def campaign_counters(
    actions: list[dict[str, Any]], suivis: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of `compteurs_plans` and `compteurs_campagnes` for these actions and
    suivis: per convention its actions not abandoned; per convention and quarter their
    suivis per state (the columns are the states' names) and their alerts."""
    due = {a["id"]: a["convention_id"] for a in actions if a["statut"] != ABANDONNEE}
    plans: dict[uuid.UUID, int] = {}
    for convention_id in due.values():
        plans[convention_id] = plans.get(convention_id, 0) + 1
    campagnes: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for s in suivis:
        if s["action_id"] not in due:
            continue
        key = (due[s["action_id"]], s["periode"])
        row = campagnes.setdefault(
            key,
            {"convention_id": key[0], "periode": key[1]}
            | dict.fromkeys([e.name for e in EtatSuivi] + ["alertes"], 0),
        )
        row[EtatSuivi(s["etat"]).name] += 1
        row["alertes"] += int(s["alerte"])
    return [{"convention_id": c, "actions": n} for c, n in plans.items()], list(campagnes.values())


async def load_documents(loader: Loader, p: Plan, rng: random.Random) -> None:
    m = "services.documents.models"
    doc_t, ver_t = _table(m, "documents.document"), _table(m, "documents.version")
    per = SCALES[p.scale_name].documents_per_convention
    types = (
        "Compte rendu de COPIL",
        "Diagnostic partagé",
        "Plan d'actions",
        "Délibération",
        "Bilan",
        "Autre",
    )
    docs: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for c in p.conventions:
        for k in range(per):
            doc_id = bench_id(f"document:{c.index}:{k}")
            at = T0 + dt.timedelta(minutes=c.index * per + k)
            org = rng.choice([c.caf, *c.collectivites]).id
            docs.append(
                {
                    "id": doc_id,
                    "convention_id": c.id,
                    "action_id": None,
                    "bilan_id": None,
                    "type": rng.choice(types),
                    "titre": f"Document {k + 1} - {c.titre}",
                    "description": None,
                    "depose_par": "bench",
                    "organisation_id": org,
                    "depose_le": at,
                    "modifie_le": at,
                    "revision": 1,
                    "version_disponible": 1,
                    "supprime_le": None,
                    "supprime_par": None,
                }
            )
            # Metadata only: the content of the benchmark's downloads is uploaded by the run.
            versions.append(
                {
                    "id": bench_id(f"version:{c.index}:{k}:1"),
                    "document_id": doc_id,
                    "numero": 1,
                    "libelle": None,
                    "nom_fichier": f"document-{k + 1}.pdf",
                    "taille": rng.randint(20_000, 3_000_000),
                    "type_contenu": "application/pdf",
                    "sha256": f"{rng.getrandbits(256):064x}",
                    "contenu_sha256": None,
                    "statut": "disponible",
                    "signature": None,
                    "analyse_le": at,
                    "depose_par": "bench",
                    "organisation_id": org,
                    "depose_le": at,
                }
            )
    await loader.copy(doc_t, docs)
    await loader.copy(ver_t, versions)


async def load_conventions(loader: Loader, p: Plan, rng: random.Random) -> None:
    m = "services.conventions.models"
    org_t, conv_t = _table(m, "conventions.organisation"), _table(m, "conventions.convention")
    sig_t = _table(m, "conventions.signataire")
    orgs = []
    for o in p.organisations.values():
        orgs.append(
            {
                "id": o.id,
                "type": "National" if o.type == "Cnaf" else o.type,
                "nom": o.nom,
                "departement": None,
                "code_caf": o.code if o.type == "Caf" else None,
                "code_insee": o.code if o.type == "Commune" else None,
                "siren": o.code if o.type == "EPCI" else None,
                "population": o.population,
                "epci_id": None,
                "version": 1,
            }
        )
    convs, sigs = [], []
    for seq, c in enumerate(p.conventions, start=1):
        signed = c.statut == "signée"
        convs.append(
            {
                "id": c.id,
                "caf_id": c.caf.id,
                "echelon": c.echelon,
                "titre": c.titre,
                "date_debut": c.date_debut,
                "date_fin": c.date_fin,
                "thematiques": c.thematiques,
                "objectifs_partages": ["Renforcer l'offre d'accueil", "Soutenir les familles"],
                "copil_presidence": "copilotage",
                "copil_secretariat": None,
                "copil_reunions_par_an": 2,
                "copil_commissions": [],
                "statut": c.statut,
                "date_signature": c.date_debut if signed else None,
                "resiliation_mode": None,
                "resiliation_date_notification": None,
                "resiliation_motif": None,
                "date_effet_resiliation": None,
                "precedente_id": None,
                "numero_version": 1,
                "version": 1,
                "seq": seq,
            }
        )
        for k, org_id in enumerate(c.signataire_ids):
            sigs.append(
                {
                    "id": bench_id(f"signataire:{c.index}:{k}"),
                    "convention_id": c.id,
                    "organisation_id": org_id,
                    "representant": "Le maire" if k else "Le directeur",
                    "deliberation_reference": None,
                    "deliberation_date": None,
                    "date_signature": c.date_debut if signed else None,
                    "avenant_numero": None,
                    "ordre": k,
                }
            )
    await loader.copy(org_t, orgs)
    await loader.copy(conv_t, convs)
    await loader.copy(sig_t, sigs)
    await loader.conn.execute(
        "SELECT setval('conventions.convention_seq', $1)", len(p.conventions) + 1
    )


BENCH_ISSUER = "http://bench-idp.invalid"  # rewritten to the run's identity provider URL


async def load_gateway(loader: Loader, p: Plan, rng: random.Random) -> None:
    m = "gateway.habilitations.models"
    persons_t, grants_t = _table(m, "gateway.persons"), _table(m, "gateway.grants")
    ps = personas(p)
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    until = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    people: list[tuple[str, uuid.UUID, str, str]] = [
        (ps.contributeur_subject, ps.contributeur_org, "collectivite", "contributeur"),
        (ps.caf_agent_subject, ps.caf_id, "caf", "agent"),
        (ps.national_subject, ps.national_org, "national", "lecteur_national"),
    ]
    collectivites = [c.collectivites[0].id for c in p.conventions]
    for k in range(SCALES[p.scale_name].persons):
        if k % 10 == 0:
            people.append(
                (str(bench_id(f"person:agent:{k}")), rng.choice(p.cafs).id, "caf", "agent")
            )
        else:
            role = rng.choice(("contributeur", "lecteur", "referent"))
            people.append(
                (str(bench_id(f"person:{k}")), rng.choice(collectivites), "collectivite", role)
            )
    persons, grants = [], []
    for k, (subject, org, kind, role) in enumerate(people):
        person_id = bench_id(f"gateway-person:{subject}")
        persons.append(
            {
                "id": person_id,
                "issuer": BENCH_ISSUER,
                "subject": subject,
                # Verified addresses: the campaigns' reminders go out by e-mail too.
                "email": f"personne-{k}@bench.invalid",
                "email_verified": True,
                "name": f"Personne {k}",
            }
        )
        grants.append(
            {
                "id": bench_id(f"grant:{subject}"),
                "person_id": person_id,
                "client_id": None,
                "organisation_id": org,
                "organisation_kind": kind,
                "role": role,
                "valid_from": since,
                "valid_until": until,
                "status": "active",
                "granted_by": None,
                "version": 1,
            }
        )
    await loader.copy(persons_t, persons)
    await loader.copy(grants_t, grants)


# In this order: the one random generator is drawn from in turn (the data set's seed).
LOADERS: tuple[Callable[[Loader, Plan, random.Random], Awaitable[None]], ...] = (
    load_conventions,
    load_actions,
    load_documents,
    load_gateway,
)


async def generate(
    url: str, scale: str, seed: int, console: Console, today: dt.date | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    today = today or _today()
    p = plan(scale, seed, today)
    rng = random.Random(seed + 1)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = await _existing_tables(conn)
        with Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            TextColumn("{task.completed:>9,} lignes"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            loader = Loader(conn, progress)
            async with conn.transaction():
                await _truncate(conn, tables)
                for schema in SCHEMAS:
                    if f"{schema}.convention_ref" in tables:
                        await loader.copy(_table_for_replica(schema), replica_rows(p))
                for load in LOADERS:
                    await load(loader, p, rng)
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (at timestamptz DEFAULT now(), info jsonb)"  # noqa: E501
                )
                info = {
                    "scale": scale,
                    "seed": seed,
                    "generator": GENERATOR_VERSION,
                    "today": today.isoformat(),
                    "rows": loader.counts,
                    "seconds": round(time.perf_counter() - started, 1),
                }
                await conn.execute(
                    f"INSERT INTO {MARKER_TABLE} (info) VALUES ($1::jsonb)",  # noqa: S608 (constant)
                    orjson.dumps(info).decode(),
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["personas"] = {k: str(v) for k, v in vars(personas(p)).items() if not isinstance(v, list)}
    return info


def _table_for_replica(schema: str) -> Any:
    from sqlalchemy import MetaData

    from kernel.convention_ref import convention_ref_table

    return convention_ref_table(MetaData(schema=schema))
