"""The organisations registry: rules of each organisation type, creation and CSV import."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.principal import Principal
from kernel.validation_messages import french_message
from services.conventions import repository as repo
from services.conventions.history import HISTORY, ORGANISATION
from services.conventions.models import Organisation, TitulaireCompetence, TypeOrganisation
from services.conventions.schemas import (
    CompetencesAO,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
)

CSV_COLUMNS = (
    "type",
    "nom",
    "departement",
    "code_caf",
    "code_insee",
    "siren",
    "population",
    "epci_siren",
    "ao_recenser",
    "ao_informer",
    "ao_planifier",
    "ao_qualite",
)


def organisation_out(org: Organisation) -> OrganisationOut:
    competences = None
    if org.type == TypeOrganisation.commune:
        competences = CompetencesAO(
            recenser_les_besoins=TitulaireCompetence(org.ao_recenser or "commune"),
            informer_et_accompagner=TitulaireCompetence(org.ao_informer or "commune"),
            planifier=TitulaireCompetence(org.ao_planifier or "commune"),
            soutenir_la_qualite=TitulaireCompetence(org.ao_qualite or "commune"),
        )
    return OrganisationOut(
        id=org.id,
        type=TypeOrganisation(org.type),
        nom=org.nom,
        departement=org.departement,
        code_caf=org.code_caf,
        code_insee=org.code_insee,
        siren=org.siren,
        population=org.population,
        epci_id=org.epci_id,
        competences_ao=competences,
    )


def type_problems(data: OrganisationIn, epci_known: bool | None) -> list[dict[str, object]]:
    """What each organisation type requires. `epci_known`: None when no EPCI is given."""
    problems: list[dict[str, object]] = []

    def need(name: str, message: str) -> None:
        problems.append({"pointer": f"/{name}", "field": name, "message": message})

    t = data.type
    if t is TypeOrganisation.caf:
        if not data.code_caf:
            need("code_caf", "Une Caf a un code.")
        if not data.departement:
            need("departement", "Une Caf a un département.")
    elif data.code_caf:
        need("code_caf", "Seule une Caf a un code Caf.")
    if t is TypeOrganisation.commune:
        if not data.code_insee:
            need("code_insee", "Une commune a un code INSEE.")
        if data.population is None:
            need("population", "La population d'une commune est requise.")
    elif data.code_insee:
        need("code_insee", "Seule une commune a un code INSEE.")
    if t is TypeOrganisation.epci and not data.siren:
        need("siren", "Un EPCI a un SIREN.")
    if t is not TypeOrganisation.commune:
        if data.epci_id is not None or epci_known is not None:
            need("epci_id", "Seule une commune appartient à un EPCI.")
        if data.competences_ao is not None:
            need("competences_ao", "Les compétences d'AO sont celles d'une commune.")
    else:
        if epci_known is False:
            need("epci_id", "EPCI inconnu du répertoire.")
        competences = data.competences_ao or CompetencesAO()
        transferred = TitulaireCompetence.epci in competences.model_dump().values()
        if transferred and epci_known is None:
            need("competences_ao", "Une compétence transférée à l'EPCI exige l'EPCI de la commune.")
    return problems


async def check_type_rules(session: AsyncSession, data: OrganisationIn) -> None:
    """422 unless `data` follows the rules of its type (its EPCI a known EPCI)."""
    epci_known: bool | None = None
    if data.epci_id is not None:
        epci = await repo.get_organisation(session, data.epci_id)
        epci_known = epci is not None and epci.type == TypeOrganisation.epci
    problems = type_problems(data, epci_known)
    if problems:
        raise InvalidPayload("Organisation invalide.", errors=problems)


def organisation_row(
    data: OrganisationIn, org_id: uuid.UUID, epci_id: uuid.UUID | None
) -> dict[str, object]:
    competences = (
        data.competences_ao or CompetencesAO() if data.type is TypeOrganisation.commune else None
    )
    return {
        "id": org_id,
        "type": data.type.value,
        "nom": data.nom,
        "departement": data.departement,
        "code_caf": data.code_caf,
        "code_insee": data.code_insee,
        "siren": data.siren,
        "population": data.population,
        "epci_id": epci_id,
        "ao_recenser": competences.recenser_les_besoins.value if competences else None,
        "ao_informer": competences.informer_et_accompagner.value if competences else None,
        "ao_planifier": competences.planifier.value if competences else None,
        "ao_qualite": competences.soutenir_la_qualite.value if competences else None,
        "version": 1,
    }


def departement_of(data: OrganisationIn | dict[str, object]) -> str | None:
    """The département an organisation belongs to: stated, or read from its INSEE code."""
    values = data if isinstance(data, dict) else data.model_dump()
    if values.get("departement"):
        return str(values["departement"])
    insee = values.get("code_insee")
    if insee:
        return str(insee)[:3] if str(insee).startswith("97") else str(insee)[:2]
    return None


async def require_registry_writer(
    session: AsyncSession, principal: Principal, departements: set[str | None]
) -> None:
    """One Caf per département: its agents write the registry of that département only, so
    another Caf cannot change the population or AO competences behind a convention."""
    cafs = await repo.get_organisations(session, principal.caf_write_ids())
    own = {caf.departement for caf in cafs.values() if caf.departement}
    if not own:
        raise Forbidden("Seuls les agents d'une Caf enrichissent le répertoire.")
    if None in departements or not departements <= own:
        raise Forbidden(
            "Une Caf n'enrichit que le répertoire de son département "
            f"({', '.join(sorted(own))}) ; indiquez le département de l'organisation."
        )


async def create_organisation(
    session: AsyncSession, principal: Principal, data: OrganisationIn
) -> Organisation:
    """Caf agents maintain the registry of their département (national referents only read)."""
    if data.type in (TypeOrganisation.caf, TypeOrganisation.national):
        raise Forbidden(
            "Les Caf et la Cnaf viennent du référentiel national (coop import-organisations)."
        )
    await check_type_rules(session, data)
    await require_registry_writer(session, principal, {departement_of(data)})
    if await repo.find_organisation_by_codes(
        session, code_insee=data.code_insee, code_caf=data.code_caf
    ):
        raise Conflict("Une organisation porte déjà ce code.")
    org_id = uuid.uuid4()
    await repo.insert_organisations(
        session, [organisation_row(data, org_id, data.epci_id)], skip_existing=False
    )
    org = await repo.get_organisation(session, org_id)
    assert org is not None
    await HISTORY.record(session, principal, ORGANISATION, org, None)
    return org


async def patch_organisation(
    session: AsyncSession,
    principal: Principal,
    organisation_id: uuid.UUID,
    data: OrganisationPatch,
    preconditions: Preconditions,
) -> Organisation:
    org = await repo.get_organisation(session, organisation_id, for_update=True)
    if org is None:
        raise NotFound("Organisation introuvable.")
    preconditions.check(etag_for(org.id, org.version))
    if org.type in (TypeOrganisation.caf, TypeOrganisation.national):
        raise Forbidden("Les Caf et la Cnaf se modifient par le référentiel national.")
    current = organisation_out(org).model_dump(exclude={"id"})
    try:
        merged = OrganisationIn.model_validate({**current, **data.model_dump(exclude_unset=True)})
    except ValidationError as exc:
        # A field the organisation must keep, emptied (``"nom": null``).
        raise InvalidPayload(
            "Organisation invalide.",
            errors=[
                {
                    "pointer": "/" + "/".join(str(p) for p in err["loc"]),
                    "field": ".".join(str(p) for p in err["loc"]),
                    "code": err["type"],
                    "message": french_message(err),
                }
                for err in exc.errors()
            ],
        ) from exc
    await require_registry_writer(
        session, principal, {departement_of(current), departement_of(merged)}
    )
    await check_type_rules(session, merged)
    if await repo.find_organisation_by_codes(
        session, code_insee=merged.code_insee, code_caf=merged.code_caf, exclude_id=org.id
    ):
        raise Conflict("Une organisation porte déjà ce code.")
    before = ORGANISATION.snapshot(org)
    row = organisation_row(merged, org.id, merged.epci_id)
    renamed = org.nom != merged.nom
    for key, value in row.items():
        if key not in ("id", "version"):
            setattr(org, key, value)
    org.version += 1
    await session.flush()
    if renamed:
        await repo.renamed(session, org.id)
    await HISTORY.record(session, principal, ORGANISATION, org, before)
    return org


# --- CSV import --------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: list[dict[str, object]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)

    @property
    def ok(self) -> bool:
        return not self.errors


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def parse_csv(text: str) -> tuple[list[tuple[int, dict[str, str | None]]], list[tuple[int, str]]]:
    """Rows with their line numbers (header = line 1), or the header problem."""
    reader = csv.DictReader(
        io.StringIO(text), delimiter=";" if text.count(";") > text.count(",") else ","
    )
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("type", "nom") if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("colonnes manquantes : " + ", ".join(missing))
        if unknown:
            parts.append("colonnes inconnues : " + ", ".join(unknown))
        return [], [(1, "; ".join(parts))]
    rows = []
    for raw in reader:
        line = reader.line_num
        rows.append((line, {k.strip(): _clean(v) for k, v in raw.items() if k is not None}))
    return rows, []


def _to_input(row: dict[str, str | None]) -> OrganisationIn:
    data: dict[str, object] = {
        k: row.get(k)
        for k in ("type", "nom", "departement", "code_caf", "code_insee", "siren", "population")
        if row.get(k) is not None
    }
    competences = {
        target: row.get(source)
        for source, target in (
            ("ao_recenser", "recenser_les_besoins"),
            ("ao_informer", "informer_et_accompagner"),
            ("ao_planifier", "planifier"),
            ("ao_qualite", "soutenir_la_qualite"),
        )
        if row.get(source) is not None
    }
    if competences:
        data["competences_ao"] = competences
    return OrganisationIn.model_validate(data)


async def validate_import(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, str | None]]]
) -> ImportReport:
    """Check every row (types, per-type rules, duplicates in the file and the registry)."""
    report = ImportReport()
    parsed: list[tuple[int, OrganisationIn, str | None]] = []
    for line, row in rows:
        try:
            parsed.append((line, _to_input(row), row.get("epci_siren")))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                report.errors.append((line, f"{loc} : {french_message(err)}"))
    insee = [p.code_insee for _, p, _ in parsed if p.code_insee]
    cafs = [p.code_caf for _, p, _ in parsed if p.code_caf]
    taken_insee, taken_caf = await repo.existing_codes(session, insee, cafs)
    known_epcis = await repo.epcis_by_siren(session, [s for _, _, s in parsed if s])
    file_epcis = {
        p.siren: uuid.uuid4() for _, p, _ in parsed if p.type is TypeOrganisation.epci and p.siren
    }
    seen_insee: dict[str, int] = {}
    seen_caf: dict[str, int] = {}
    for line, data, epci_siren in parsed:
        epci_id = None
        epci_known: bool | None = None
        if epci_siren:
            epci_id = file_epcis.get(epci_siren) or known_epcis.get(epci_siren)
            epci_known = epci_id is not None
        for problem in type_problems(data, epci_known):
            report.errors.append((line, f"{problem['field']} : {problem['message']}"))
        if data.code_insee:
            if data.code_insee in taken_insee:
                report.errors.append((line, f"code INSEE {data.code_insee} déjà au répertoire"))
            elif data.code_insee in seen_insee:
                report.errors.append(
                    (
                        line,
                        f"code INSEE {data.code_insee} déjà en ligne {seen_insee[data.code_insee]}",
                    )
                )
            seen_insee.setdefault(data.code_insee, line)
        if data.code_caf:
            if data.code_caf in taken_caf:
                report.errors.append((line, f"code Caf {data.code_caf} déjà au répertoire"))
            elif data.code_caf in seen_caf:
                report.errors.append(
                    (line, f"code Caf {data.code_caf} déjà en ligne {seen_caf[data.code_caf]}")
                )
            seen_caf.setdefault(data.code_caf, line)
        org_id = (
            file_epcis[data.siren]
            if data.type is TypeOrganisation.epci and data.siren in file_epcis
            else uuid.uuid4()
        )
        report.rows.append(organisation_row(data, org_id, epci_id))
    report.errors.sort()
    return report


async def load_import(session: AsyncSession, report: ImportReport, batch: int = 500) -> int:
    """Insert a validated file (EPCIs first: communes refer to them). Caller commits."""
    assert report.ok
    ordered = sorted(report.rows, key=lambda r: r["type"] != TypeOrganisation.epci.value)
    done = 0
    for start in range(0, len(ordered), batch):
        done += await repo.insert_organisations(
            session, ordered[start : start + batch], skip_existing=False
        )
    return done
