"""The right each route of the actions service requires (see `kernel.rights`).

The services keep the rules on the very object: the Caf of the convention
(`service.is_caf_agent`), the collectivités carrying the action
(`service.may_write_action`), the signatories conducting the evaluation
(`service.may_conduct_evaluation`), what an ended convention still accepts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.principal import Principal
from kernel.rights import (
    CAF_WRITERS,
    CAF_WRITERS_AND_REFERENTS,
    COLLECTIVITE_WRITERS,
    WRITERS,
    Right,
    ServiceRight,
    scope_of,
)
from services.actions import service, service_bilans, service_discussions
from services.actions.dependencies import ActionsContext


async def _convention(
    request: Request, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> object:
    ctx: ActionsContext = request.app.state.actions
    return await ctx.replica.readable(session, convention_id, principal)


CONVENTION = ("convention_id", _convention)
ACTION = ("action_id", scope_of(service.load_action))
BILAN = ("bilan_id", scope_of(service_bilans.load_bilan))
COMMENTAIRE = ("commentaire_id", scope_of(service_discussions.load_commentaire))


def _caf(what: str) -> str:
    return f"Seul un agent de la Caf de la convention peut {what}."


_EVALUATION = (
    "Seuls les agents de la Caf et les collectivités signataires (contributeurs, référents) "
    "conduisent l'évaluation : bilans et indicateurs de la convention."
)
_PORTEURS = (
    "Seuls les agents de la Caf et les collectivités porteuses de l'action peuvent la modifier."
)

# Whoever reads the convention, the action, the bilan (the scope: 404 outside it).
ConventionRead = Annotated[Principal, Depends(ServiceRight(Right("ConventionRead"), on=CONVENTION))]
ActionRead = Annotated[Principal, Depends(ServiceRight(Right("ActionRead"), on=ACTION))]
BilanRead = Annotated[Principal, Depends(ServiceRight(Right("BilanRead"), on=BILAN))]
# The axes of the plan and their order, the order of an axe's actions: the Caf's agents.
PlanWrite = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right("PlanWrite", CAF_WRITERS, _caf("structurer le plan d'actions")), on=CONVENTION
        )
    ),
]
# The import of a plan d'actions from a spreadsheet: the Caf's agents (each import is
# its author's alone: service_imports).
ImportWrite = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right("ImportWrite", CAF_WRITERS, _caf("importer un plan d'actions")), on=CONVENTION
        )
    ),
]
# A campaign's due date: the Caf's agents.
CampagneWrite = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right("CampagneWrite", CAF_WRITERS, _caf("fixer l'échéance d'une campagne")),
            on=CONVENTION,
        )
    ),
]
# A new action: the Caf's agents, or a collectivité that will carry it.
ActionCreate = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "ActionCreate",
                WRITERS,
                "Seuls les agents de la Caf, ou une collectivité porteuse de l'action, "
                "peuvent créer une action.",
            ),
            on=CONVENTION,
        )
    ),
]
# The fiche-action, its indicators and their values: the Caf's agents and the
# collectivités carrying it.
ActionWrite = Annotated[
    Principal, Depends(ServiceRight(Right("ActionWrite", WRITERS, _PORTEURS), on=ACTION))
]
ActionDelete = Annotated[
    Principal,
    Depends(
        ServiceRight(Right("ActionDelete", CAF_WRITERS, _caf("supprimer une action")), on=ACTION)
    ),
]
# A quarter's suivi (entered, submitted, corrected): the collectivités carrying the
# action and the Caf's agents.
SuiviWrite = Annotated[
    Principal, Depends(ServiceRight(Right("SuiviWrite", WRITERS, _PORTEURS), on=ACTION))
]
# A submitted suivi validated or sent back: the Caf's agents.
SuiviValidate = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right("SuiviValidate", CAF_WRITERS, _caf("valider ou renvoyer un suivi")), on=ACTION
        )
    ),
]
# Art. 9: the evaluation (bilans, the indicators of the convention and its axes) is
# conducted by the Caf's agents and the signatory collectivités.
EvaluationWrite = Annotated[
    Principal,
    Depends(ServiceRight(Right("EvaluationWrite", WRITERS, _EVALUATION), on=CONVENTION)),
]
BilanWrite = Annotated[
    Principal, Depends(ServiceRight(Right("BilanWrite", WRITERS, _EVALUATION), on=BILAN))
]
BilanDelete = Annotated[
    Principal,
    Depends(ServiceRight(Right("BilanDelete", CAF_WRITERS, _caf("supprimer un bilan")), on=BILAN)),
]
# The COPIL's adoption, entered by a Caf agent or a signatory collectivité's referent.
BilanAdopt = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "BilanAdopt",
                CAF_WRITERS_AND_REFERENTS,
                "Seuls un agent de la Caf ou le référent d'une collectivité signataire "
                "saisissent l'adoption d'un bilan par le COPIL.",
            ),
            on=BILAN,
        )
    ),
]
# A collectivité's agreement to send the petite-enfance part to the CDSF: its own.
BilanAgree = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "BilanAgree",
                COLLECTIVITE_WRITERS,
                "Seule une collectivité concernée (contributeur ou référent) donne son accord.",
            ),
            on=BILAN,
        )
    ),
]
BilanTransmit = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right("BilanTransmit", CAF_WRITERS, _caf("transmettre un bilan à la CDSF")), on=BILAN
        )
    ),
]
# The discussions: whoever reads the action reads its threads; the Caf's agents and the
# write roles of any signatory collectivité post (service_discussions: its author
# corrects or deletes a comment, a Caf agent moderates).
_DISCUSSION = service_discussions.PARTICIPANTS
CommentaireRead = Annotated[
    Principal, Depends(ServiceRight(Right("CommentaireRead"), on=COMMENTAIRE))
]
DiscussionWrite = Annotated[
    Principal, Depends(ServiceRight(Right("DiscussionWrite", WRITERS, _DISCUSSION), on=ACTION))
]
CommentaireWrite = Annotated[
    Principal,
    Depends(ServiceRight(Right("CommentaireWrite", WRITERS, _DISCUSSION), on=COMMENTAIRE)),
]
