"""Demo data of the documents service: the documents of Voiron's, the Grésivaudan's and
Vienne's CTG.

Small generated files of several types (PDF, ODT, ODS, CSV) stored in the configured
backend (the service's own settings: by default the filesystem under
``COOP_DOCUMENTS_STORAGE_ROOT``, ``.coop/documents``), one with two versions, bilans
attached to the bilans of the actions demo, the letter of the Grésivaudan's mise en
demeure, the text of Vienne's CTG signed in 2021 and recorded after the fact.
The convention replica is filled consistently with coop/demo_conventions.py (seq 0:
the real feed overrides it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
import zipfile
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coop.demo_ids import (
    BILAN_FINAL_VIENNE,
    BILAN_GRESIVAUDAN,
    CAF_ISERE,
    CAF_ISERE_AGENT,
    CAF_ISERE_AGENT_NOM,
    CONVENTION_GRESIVAUDAN,
    CONVENTION_VIENNE_2022,
    CONVENTION_VOIRON,
    GRESIVAUDAN,
    VIENNE,
    VOIRON,
    demo_id,
    replica_refs,
)
from kernel.convention_ref import upsert_refs
from kernel.sniffing import CSV, ODS, ODT, PDF
from services.documents import repository as repo
from services.documents.app import open_storage
from services.documents.models import Document, StatutAnalyse, TypeDocument, Version, convention_ref
from services.documents.settings import DocumentsSettings
from services.documents.storage import Storage

CAF_AGENT = CAF_ISERE_AGENT
VOIRON_CONTRIBUTEUR = "demo:voiron-contributeur"
GRESIVAUDAN_REFERENT = "demo:gresivaudan-referent"
VIENNE_REFERENT = "demo:vienne-referent"
# Their display names, as the histories and the answers show them (`depose_par_nom`).
NOMS = {
    CAF_AGENT: CAF_ISERE_AGENT_NOM,
    VOIRON_CONTRIBUTEUR: "Contributeur de Voiron (démonstration)",
    GRESIVAUDAN_REFERENT: "Référent du Grésivaudan (démonstration)",
    VIENNE_REFERENT: "Référent de Vienne (démonstration)",
}


def pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF with text, readable by any viewer."""
    text = " ".join(
        f"({s.encode('latin-1', 'replace').decode('latin-1')}) Tj 0 -18 Td"
        for s in [title, "", *lines]
    )
    stream = f"BT /F1 12 Tf 56 780 Td {text} ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def odf(kind: str, paragraphs: list[str]) -> bytes:
    """A minimal OpenDocument (text or spreadsheet)."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"'
    )
    if kind == "text":
        body = "<office:text>" + "".join(f"<text:p>{p}</text:p>" for p in paragraphs)
        body += "</office:text>"
    else:
        rows = "".join(
            "<table:table-row>"
            + "".join(
                f'<table:table-cell office:value-type="string"><text:p>{c}</text:p>'
                "</table:table-cell>"
                for c in p.split(";")
            )
            + "</table:table-row>"
            for p in paragraphs
        )
        body = f'<office:spreadsheet><table:table table:name="Plan">{rows}</table:table>'
        body += "</office:spreadsheet>"
    content = f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}>'
    content += f"<office:body>{body}</office:body></office:document-content>"
    mime = f"application/vnd.oasis.opendocument.{kind}"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        f'manifest:media-type="{mime}"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return buf.getvalue()


@dataclass(frozen=True)
class DemoFile:
    nom: str
    type_contenu: str
    data: bytes
    libelle: str | None = None


@dataclass(frozen=True)
class DemoDocument:
    key: str
    convention_id: uuid.UUID
    type: TypeDocument
    titre: str
    depose_par: str
    organisation_id: uuid.UUID
    depose_le: dt.datetime
    versions: list[DemoFile]
    description: str | None = None
    bilan_id: uuid.UUID | None = None


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T10:00:00+00:00")


DOCUMENTS = [
    DemoDocument(
        "voiron-convention",
        CONVENTION_VOIRON,
        TypeDocument.convention_signee,
        "Convention territoriale globale de Voiron 2025-2029 (signée)",
        CAF_AGENT,
        CAF_ISERE,
        _at("2025-01-20"),
        [
            DemoFile(
                "CTG Voiron 2025-2029 signée.pdf",
                PDF,
                pdf(
                    "Convention territoriale globale - Voiron",
                    ["Signée le 15 janvier 2025 par la Caf de l'Isère et la commune de Voiron."],
                ),
            )
        ],
    ),
    DemoDocument(
        "voiron-diagnostic",
        CONVENTION_VOIRON,
        TypeDocument.diagnostic_partage,
        "Diagnostic partagé du territoire de Voiron",
        VOIRON_CONTRIBUTEUR,
        VOIRON,
        _at("2024-11-05"),
        [
            DemoFile(
                "diagnostic-partagé-voiron.odt",
                ODT,
                odf(
                    "text",
                    [
                        "Diagnostic partagé - Voiron",
                        "Petite enfance : 120 places d'EAJE, besoins non couverts au centre.",
                        "Jeunesse : un accueil de jeunes à renforcer le mercredi.",
                    ],
                ),
            )
        ],
    ),
    DemoDocument(
        "voiron-copil-2025",
        CONVENTION_VOIRON,
        TypeDocument.compte_rendu_copil,
        "Compte rendu du COPIL du 12 juin 2025",
        VOIRON_CONTRIBUTEUR,
        VOIRON,
        _at("2025-06-20"),
        [
            DemoFile(
                "CR COPIL 2025-06-12.pdf",
                PDF,
                pdf("COPIL du 12 juin 2025", ["Projet de compte rendu soumis aux membres."]),
                "Projet",
            ),
            DemoFile(
                "CR COPIL 2025-06-12 validé.pdf",
                PDF,
                pdf("COPIL du 12 juin 2025", ["Compte rendu validé par les co-présidents."]),
                "Validé",
            ),
        ],
    ),
    DemoDocument(
        "voiron-equipements",
        CONVENTION_VOIRON,
        TypeDocument.liste_equipements,
        "Liste des équipements et services soutenus (annexe 2)",
        CAF_AGENT,
        CAF_ISERE,
        _at("2025-01-20"),
        [
            DemoFile(
                "annexe-2-equipements.csv",
                CSV,
                "structure;type;places\nLes Petits Voironnais;EAJE PSU;60\n"
                "RPE de Voiron;RPE;\nAccueil jeunes Brunetière;Accueils de jeunes;24\n".encode(),
            )
        ],
    ),
    DemoDocument(
        "gresivaudan-deliberation",
        CONVENTION_GRESIVAUDAN,
        TypeDocument.deliberation,
        "Délibération du conseil communautaire approuvant la CTG",
        GRESIVAUDAN_REFERENT,
        GRESIVAUDAN,
        _at("2023-12-14"),
        [
            DemoFile(
                "délibération-2023-312.pdf",
                PDF,
                pdf(
                    "Délibération n° 2023-312",
                    [
                        "Le conseil communautaire approuve la CTG 2024-2028"
                        " et autorise sa signature."
                    ],
                ),
            )
        ],
    ),
    DemoDocument(
        "gresivaudan-avenant-1",
        CONVENTION_GRESIVAUDAN,
        TypeDocument.avenant,
        "Avenant n°1 : entrée de la MSA Alpes du Nord",
        CAF_AGENT,
        CAF_ISERE,
        _at("2025-06-16"),
        [
            DemoFile(
                "avenant-1-MSA.pdf",
                PDF,
                pdf(
                    "Avenant n° 1 à la CTG du Grésivaudan",
                    ["Signé le 12 juin 2025 : la MSA Alpes du Nord rejoint la convention."],
                ),
            )
        ],
    ),
    DemoDocument(
        "gresivaudan-plan",
        CONVENTION_GRESIVAUDAN,
        TypeDocument.plan_actions,
        "Plan d'actions 2024-2028 (annexe 3)",
        CAF_AGENT,
        CAF_ISERE,
        _at("2024-01-30"),
        [
            DemoFile(
                "plan-actions-gresivaudan.ods",
                ODS,
                odf(
                    "spreadsheet",
                    [
                        "axe;action;porteur",
                        "Accueil du jeune enfant;MAM de Pontcharra;Pontcharra",
                        "Jeunesse;Point information jeunesse intercommunal;Le Grésivaudan",
                    ],
                ),
            )
        ],
    ),
    DemoDocument(
        "gresivaudan-bilan",
        CONVENTION_GRESIVAUDAN,
        TypeDocument.bilan,
        "Bilan intermédiaire 2024-2026",
        GRESIVAUDAN_REFERENT,
        GRESIVAUDAN,
        _at("2026-07-06"),
        [
            DemoFile(
                "bilan-intermédiaire-2026.odt",
                ODT,
                odf(
                    "text",
                    [
                        "Bilan intermédiaire adopté en COPIL le 3 juillet 2026",
                        "La MAM de Pontcharra est ouverte ; la passerelle de Crolles est en pause.",
                    ],
                ),
            )
        ],
        bilan_id=BILAN_GRESIVAUDAN,
    ),
    DemoDocument(
        "gresivaudan-avenant-2",
        CONVENTION_GRESIVAUDAN,
        TypeDocument.avenant,
        "Avenant n°2 : micro-crèche Les Petits Pas (annexe 2 de Crolles)",
        CAF_AGENT,
        CAF_ISERE,
        _at("2026-03-16"),
        [
            DemoFile(
                "avenant-2-annexe-2-Crolles.pdf",
                PDF,
                pdf(
                    "Avenant n° 2 à la CTG du Grésivaudan",
                    ["Signé le 10 mars 2026 par la Caf et Crolles : annexe 2 de Crolles."],
                ),
            )
        ],
    ),
    # Its id is the mise en demeure's `lettre_document_id` in the conventions demo.
    DemoDocument(
        "gresivaudan-mise-en-demeure",
        CONVENTION_GRESIVAUDAN,
        TypeDocument.autre,
        "Lettre de mise en demeure à la commune du Touvet",
        CAF_AGENT,
        CAF_ISERE,
        _at("2026-11-16"),
        [
            DemoFile(
                "mise-en-demeure-Le-Touvet.pdf",
                PDF,
                pdf(
                    "Lettre recommandée avec avis de réception - mise en demeure",
                    ["Mettre en place les permanences logement prévues au plan d'actions."],
                ),
            )
        ],
    ),
    DemoDocument(
        "vienne-convention",
        CONVENTION_VIENNE_2022,
        TypeDocument.convention_signee,
        "Convention territoriale globale de Vienne 2022-2026 (signée en 2021)",
        CAF_AGENT,
        CAF_ISERE,
        _at("2026-02-02"),
        [
            DemoFile(
                "CTG Vienne 2022-2026 signée.pdf",
                PDF,
                pdf(
                    "Convention territoriale globale - Vienne",
                    ["Signée le 14 décembre 2021 ; enregistrée dans l'outil en 2026."],
                ),
            )
        ],
    ),
    DemoDocument(
        "vienne-bilan-final",
        CONVENTION_VIENNE_2022,
        TypeDocument.bilan,
        "Bilan final 2022-2026",
        VIENNE_REFERENT,
        VIENNE,
        _at("2026-11-13"),
        [
            DemoFile(
                "bilan-final-2022-2026.odt",
                ODT,
                odf(
                    "text",
                    [
                        "Bilan final adopté en COPIL le 12 novembre 2026",
                        "Préparer la CTG 2027-2031 : petite enfance et handicap.",
                    ],
                ),
            )
        ],
        bilan_id=BILAN_FINAL_VIENNE,
    ),
]


async def _store(storage: Storage, data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    upload = await storage.start_upload()
    try:
        await upload.write(data)
        await upload.commit()
        return sha, await storage.publish(upload, sha)
    except BaseException:
        await upload.abort()
        raise


async def demo_step(session: AsyncSession) -> str:
    await upsert_refs(session, convention_ref, replica_refs())
    marker = demo_id("documents:" + DOCUMENTS[0].key)
    if (await session.execute(select(Document.id).where(Document.id == marker))).first():
        return "déjà chargées"
    storage = await open_storage(DocumentsSettings())
    try:
        versions = await _load(session, storage)
    finally:
        await storage.close()
    return f"{len(DOCUMENTS)} documents, {versions} versions"


async def _load(session: AsyncSession, storage: Storage) -> int:
    versions = 0
    for spec in DOCUMENTS:
        document = Document(
            id=demo_id("documents:" + spec.key),
            convention_id=spec.convention_id,
            bilan_id=spec.bilan_id,
            type=spec.type.value,
            titre=spec.titre,
            description=spec.description,
            depose_par=spec.depose_par,
            depose_par_nom=NOMS[spec.depose_par],
            organisation_id=spec.organisation_id,
            depose_le=spec.depose_le,
            modifie_le=spec.depose_le,
            revision=1,
            version_disponible=len(spec.versions),
        )
        session.add(document)
        await session.flush()
        for numero, file in enumerate(spec.versions, start=1):
            sha, key = await _store(storage, file.data)
            await repo.ensure_contenu(session, sha, len(file.data), key)
            at = spec.depose_le + dt.timedelta(days=7 * (numero - 1))
            session.add(
                Version(
                    id=demo_id(f"documents:{spec.key}:v{numero}"),
                    document_id=document.id,
                    numero=numero,
                    libelle=file.libelle,
                    nom_fichier=file.nom,
                    taille=len(file.data),
                    type_contenu=file.type_contenu,
                    sha256=sha,
                    contenu_sha256=sha,
                    statut=StatutAnalyse.disponible.value,
                    analyse_le=at,
                    depose_par=spec.depose_par,
                    depose_par_nom=NOMS[spec.depose_par],
                    organisation_id=spec.organisation_id,
                    depose_le=at,
                )
            )
            versions += 1
    await session.flush()
    return versions
