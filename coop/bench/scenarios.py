"""The mix: each user action mapped to the real path of the service that serves it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from coop.bench.dataset import Personas, Plan, bench_id
from coop.bench.driver import RequestSpec
from kernel import dev_keys
from kernel.internal_token import InternalTokenSigner
from kernel.principal import Grant, OrganisationKind, Principal, PrincipalKind, Role


@dataclass(frozen=True)
class Persona:
    key: str
    principal: Principal


def bench_personas(ps: Personas) -> dict[str, Persona]:
    def person(
        key: str, subject: str, org: uuid.UUID, kind: OrganisationKind, role: Role
    ) -> Persona:
        grant = Grant(organisation_id=org, organisation_kind=kind, role=role)
        return Persona(key, Principal(subject=subject, kind=PrincipalKind.person, grants=(grant,)))

    return {
        "contributeur": person(
            "contributeur",
            ps.contributeur_subject,
            ps.contributeur_org,
            OrganisationKind.collectivite,
            Role.contributeur,
        ),
        "caf_agent": person(
            "caf_agent", ps.caf_agent_subject, ps.caf_id, OrganisationKind.caf, Role.agent
        ),
        "national": person(
            "national",
            ps.national_subject,
            ps.national_org,
            OrganisationKind.national,
            Role.lecteur_national,
        ),
    }


class InternalTokens:
    """Internal tokens as the gateway would mint them, re-minted before they expire."""

    def __init__(self) -> None:
        self._signer = InternalTokenSigner("gateway", dev_keys.private_jwk("gateway"), 60)
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}

    def header(self, persona: Persona, audience: str) -> str:
        key = (persona.key, audience)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is None or hit[1] < now:
            token = self._signer.mint(persona.principal, audience)
            hit = (f"Bearer {token}", now + 40)
            self._cache[key] = hit
        return hit[0]


@dataclass
class Op:
    """One endpoint of the mix: which service, who calls, what path for the i-th call."""

    key: str
    label: str
    service: str
    persona: str
    method: str
    path: Callable[[int], str]
    kind: str = "read"
    body: Callable[[int], tuple[bytes, dict[str, str]]] | None = None
    expect: frozenset[int] = frozenset({200})
    # c=32 is skipped for writes that would pile up rows, and transfers run at c=8.
    concurrency: tuple[int, ...] = (1, 32)
    # Consecutive calls must not reuse a target (writes): at most this many calls.
    fresh_targets: bool = False
    max_calls: int | None = None


# Write targets reserved at the end of the list for the capture (indexes from this offset).
CAPTURE_OFFSET = 100_000
CAPTURE_RESERVED = 20


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "coopbench" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()  # noqa: E501
        )
    parts.append(
        (
            f'--{boundary}\r\ncontent-disposition: form-data; name="fichier"; '
            f'filename="{filename}"\r\ncontent-type: application/pdf\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def operations(
    p: Plan,
    ps: Personas,
    blob: bytes,
    deep_cursor: str | None,
    uploaded_document: str | None,
) -> list[Op]:
    periode = p.current_periode
    mine = ps.contributeur_conventions or ps.caf_conventions
    # Submissions: every action of the bench Caf's conventions has a brouillon suivi.
    caf_convs = {c.id: c for c in p.conventions if c.caf.id == ps.caf_id and c.statut == "signée"}
    write_targets = [
        bench_id(f"action:{c.index}:{a}") for c in caf_convs.values() for a in range(c.n_actions)
    ]
    load_targets = max(1, len(write_targets) - CAPTURE_RESERVED)
    # The bench Caf's conventions, largest plan first: the export's worst cases.
    exported = [c.id for c in sorted(caf_convs.values(), key=lambda c: -c.n_actions)][:5]

    def write_target(i: int) -> uuid.UUID:
        if i >= CAPTURE_OFFSET:
            return write_targets[-1 - (i - CAPTURE_OFFSET) % CAPTURE_RESERVED]
        return write_targets[i % load_targets]

    ops = [
        Op(
            "moi_a_renseigner",
            "Mobile : mes actions à renseigner ce trimestre",
            "actions",
            "contributeur",
            "GET",
            lambda i: "/api/v1/moi/actions-a-renseigner?limit=50",
        ),
        Op(
            "plan_actions",
            "Ouvrir une convention : son plan d'actions",
            "actions",
            "contributeur",
            "GET",
            lambda i: f"/api/v1/conventions/{mine[i % len(mine)]}/actions?limit=200",
        ),
        Op(
            "campagne_caf",
            "Vue campagne de la Caf",
            "actions",
            "caf_agent",
            "GET",
            lambda i: f"/api/v1/campagnes/{periode}?limit=50",
        ),
        Op(
            "agregats_nationaux",
            "Agrégats nationaux (campagne)",
            "actions",
            "national",
            "GET",
            lambda i: f"/api/v1/campagnes/{periode}?limit=200",
        ),
        Op(
            "soumission_suivi",
            "Soumettre un suivi",
            "actions",
            "caf_agent",
            "POST",
            lambda i: f"/api/v1/actions/{write_target(i)}/suivis/{periode}/soumission",
            kind="write",
            body=lambda i: (b"", {"if-match": "*"}),
            concurrency=(1,),
            fresh_targets=True,
            max_calls=load_targets,
        ),
        Op(
            "tableau_de_suivi",
            "Exporter le tableau de suivi d'une convention (ODS)",
            "actions",
            "caf_agent",
            "GET",
            lambda i: f"/api/v1/conventions/{exported[i % len(exported)]}/tableau-de-suivi",
            # A file per call: its p50 at c=1 is the figure (issue 26: under 1 s).
            concurrency=(1,),
        ),
        Op(
            "mes_conventions",
            "Lister mes conventions",
            "conventions",
            "contributeur",
            "GET",
            lambda i: "/api/v1/conventions?limit=50",
        ),
        Op(
            "convention_detail",
            "Ouvrir une convention : sa fiche",
            "conventions",
            "contributeur",
            "GET",
            lambda i: f"/api/v1/conventions/{mine[i % len(mine)]}",
        ),
        Op(
            "pagination_premiere",
            "Documents (national) : première page",
            "documents",
            "national",
            "GET",
            lambda i: "/api/v1/documents?limit=50",
        ),
    ]
    if deep_cursor:
        ops.append(
            Op(
                "pagination_profonde",
                "Documents (national) : page la plus profonde",
                "documents",
                "national",
                "GET",
                lambda i: f"/api/v1/documents?limit=50&cursor={deep_cursor}",
            )
        )
    target_conv = mine[0]

    def upload_body(i: int) -> tuple[bytes, dict[str, str]]:
        body, ctype = multipart(
            {"convention_id": str(target_conv), "type": "Autre", "titre": f"Bench {i}"},
            "bench.pdf",
            blob,
        )
        return body, {"content-type": ctype}

    ops.append(
        Op(
            "document_upload",
            "Déposer un document de 5 Mio",
            "documents",
            "contributeur",
            "POST",
            lambda i: "/api/v1/documents",
            kind="transfer",
            body=upload_body,
            expect=frozenset({201}),
            concurrency=(1, 8),
        )
    )
    if uploaded_document:
        ops.append(
            Op(
                "document_download",
                "Télécharger un document de 5 Mio",
                "documents",
                "contributeur",
                "GET",
                lambda i: f"/api/v1/documents/{uploaded_document}/contenu",
                kind="transfer",
                concurrency=(1, 8),
            )
        )
    return ops


def spec_for(op: Op, i: int, auth: str, extra_headers: dict[str, str] | None = None) -> RequestSpec:
    headers = {"authorization": auth, **(extra_headers or {})}
    body = b""
    if op.body is not None:
        body, more = op.body(i)
        headers.update(more)
    return RequestSpec(op.method, op.path(i), headers, body, op.expect)
