"""Domain rules of the discussions: the threads of comments on a fiche-action and on
each of its suivis.

Read: whoever reads the action (scope in SQL, 404 outside it). Post: the Caf's agents
and the write roles of any signatory collectivité of the convention
(`service.is_party_writer`: not only the action's porteurs, the whole partnership
discusses), 403 for the other readers. Edit: the author alone, within 15 minutes of
posting (409 after). Delete: the author, or a Caf agent of the convention as moderator
(DOMAIN.md: Caf agents "act on the CTG of their Caf"; a collectivité's referent manages
only its own collectivité's people, not the partners' words). A deleted comment stays
as a tombstone: author and dates kept, text and mentions erased (the history withholds
the text, `history.COMMENTAIRE`). A convention that has ended is still discussed: a
comment is no engagement (art. 12 stops those), and the bilan final is written after
the end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.history import MODIFICATION, SUPPRESSION
from kernel.principal import Principal
from services.actions import events
from services.actions import repository as repo
from services.actions import repository_discussions as drepo
from services.actions import repository_suivis as srepo
from services.actions.dependencies import ActionsContext
from services.actions.history import COMMENTAIRE, HISTORY
from services.actions.models import Commentaire, Suivi
from services.actions.schemas_discussions import (
    CommentaireIn,
    CommentaireOut,
    CommentairePatch,
    Mention,
    Mentionnable,
    Mentionnables,
    SupprimePar,
)
from services.actions.service import is_caf_agent, is_party_writer, load_action

# How long its author may still correct a comment.
EDIT_WINDOW = dt.timedelta(minutes=15)
MODERATION = "suppression par modération"

PARTICIPANTS = (
    "Seuls les agents de la Caf et les collectivités signataires (contributeurs, "
    "référents) prennent part aux discussions."
)


def require_participant(principal: Principal, convention: ConventionRef) -> None:
    if not is_party_writer(principal, convention):
        raise Forbidden(PARTICIPANTS)


# --- views -----------------------------------------------------------------------------


def commentaire_out(c: Commentaire | drepo.CommentaireRow) -> CommentaireOut:
    return CommentaireOut(
        id=c.id,
        convention_id=c.convention_id,
        action_id=c.action_id,
        suivi_id=c.suivi_id,
        periode=c.periode,
        auteur_id=c.auteur_id,
        auteur_nom=c.auteur_nom,
        texte=c.texte,
        mentions=[Mention.model_validate(m) for m in c.mentions],
        created_at=c.created_at,
        modifie_le=c.modifie_le,
        modifiable_jusqu_au=c.created_at + EDIT_WINDOW,
        supprime=c.supprime_le is not None,
        supprime_le=c.supprime_le,
        supprime_par=SupprimePar(c.supprime_par) if c.supprime_par else None,
        version=c.version,
    )


# --- mentions --------------------------------------------------------------------------


async def mentioned(
    ctx: ActionsContext, convention: ConventionRef, ids: Sequence[uuid.UUID]
) -> list[dict[str, object]]:
    """The persons `ids` name, as a comment keeps them (id, name at the time), each one
    reading the convention by a grant active now (the gateway's habilitations, asked
    now: a revoked person is refused; national readers, who read every CTG, are not the
    convention's people). Anyone else: 422 naming them, and nothing is written. The
    gateway not answering within its timeout: 503."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = {p.id: p for p in await ctx.people.of_convention(convention.id, personnes=wanted)}
    strangers = [i for i in wanted if i not in found]
    if strangers:
        raise InvalidPayload(
            "Un commentaire ne mentionne que des personnes qui lisent la convention (voir "
            "les personnes mentionnables de l'action) : rien n'a été publié.",
            errors=[
                {
                    "field": "mentions",
                    "message": f"La personne {i} ne peut pas lire cette action.",
                    "code": "mention-impossible",
                }
                for i in strangers
            ],
        )
    return [{"id": str(i), "nom": found[i].nom} for i in wanted]


async def mentionables(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    q: str | None,
) -> Mentionnables:
    """Whom a comment of this action may mention (`mentioned`'s rule), by name: one
    item per person, names containing `q` (case and accents as typed)."""
    _, convention = await load_action(session, principal, action_id)
    require_participant(principal, convention)
    people: dict[uuid.UUID, Mentionnable] = {}
    for p in await ctx.people.of_convention(convention.id):
        if p.id not in people and (q is None or q.casefold() in (p.nom or "").casefold()):
            people[p.id] = Mentionnable.model_validate(p, from_attributes=True)
    items = sorted(people.values(), key=lambda m: ((m.nom or "").casefold(), str(m.id)))
    return Mentionnables(items=items)


# --- reads -----------------------------------------------------------------------------


async def thread_suivi(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, periode: str
) -> Suivi:
    """The suivi whose thread is asked for: 404 outside the scope (the action's), then
    404 when the action has no suivi for that quarter."""
    action, _ = await load_action(session, principal, action_id)
    suivi = await srepo.suivi_of(session, action.id, periode)
    if suivi is None:
        raise NotFound(f"Pas de suivi {periode} pour cette action.")
    return suivi


async def load_commentaire(
    session: AsyncSession,
    principal: Principal,
    commentaire_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Commentaire, ConventionRef]:
    found = await repo.scoped(
        session, Commentaire, commentaire_id, principal, for_update=for_update
    )
    if found is None:
        raise NotFound("Commentaire introuvable.")
    return found


# --- writes ----------------------------------------------------------------------------


async def _bump(session: AsyncSession, c: Commentaire) -> None:
    """A change: new version (ETag), new place in the change sequence (delta sync)."""
    c.version += 1
    c.seq = await repo.next_seq(session)


async def post(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    periode: str | None,
    data: CommentaireIn,
) -> Commentaire:
    """A new comment in the action's thread, or (`periode`) in its suivi's. The action's
    row is held in share mode: it is not deleted under the new comment."""
    action, convention = await load_action(session, principal, action_id, for_share=True)
    suivi_id = None
    if periode is not None:
        suivi = await srepo.suivi_of(session, action.id, periode)
        if suivi is None:
            raise NotFound(f"Pas de suivi {periode} pour cette action.")
        suivi_id = suivi.id
    require_participant(principal, convention)
    mentions = await mentioned(ctx, convention, data.mentions)
    participants = await drepo.thread_authors(session, action.id, suivi_id)
    c = Commentaire(
        id=uuid.uuid4(),
        convention_id=action.convention_id,
        action_id=action.id,
        suivi_id=suivi_id,
        periode=periode,
        auteur_id=principal.subject,
        auteur_nom=principal.name,
        texte=data.texte,
        mentions=mentions,
        version=1,
        created_at=ctx.settings.now(),
    )
    session.add(c)
    await session.flush()
    await HISTORY.record(session, principal, COMMENTAIRE, c, None)
    mentionnes = [str(m["id"]) for m in mentions]
    await events.commentaire(
        session,
        principal,
        convention,
        action,
        c,
        participants=[a for a in participants if a != c.auteur_id and a not in mentionnes],
        mentionnes=mentionnes,
    )
    return c


def _require_standing(c: Commentaire) -> None:
    if c.supprime_le is not None:
        raise Conflict("Ce commentaire a été supprimé.", extra={"code": "commentaire-supprime"})


async def edit(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    commentaire_id: uuid.UUID,
    data: CommentairePatch,
) -> Commentaire:
    """Its author corrects it, within `EDIT_WINDOW` of posting (If-Match required)."""
    c, convention = await load_commentaire(session, principal, commentaire_id, for_update=True)
    require_participant(principal, convention)
    if c.auteur_id != principal.subject:
        raise Forbidden("Seul son auteur corrige un commentaire.")
    preconditions.check(etag_for(c.id, c.version))
    _require_standing(c)
    now = ctx.settings.now()
    if now - c.created_at > EDIT_WINDOW:
        raise Conflict(
            "Un commentaire ne se corrige que dans les 15 minutes qui suivent sa "
            "publication : publiez-en un nouveau.",
            extra={"code": "commentaire-fige"},
        )
    if "texte" in data.model_fields_set and data.texte is None:
        raise InvalidPayload("Le texte ne peut pas être vide.", errors=[{"field": "texte"}])
    before = COMMENTAIRE.snapshot(c)
    if data.texte is not None:
        c.texte = data.texte
    already = {str(m["id"]) for m in c.mentions}
    if data.mentions is not None:
        c.mentions = await mentioned(ctx, convention, data.mentions)
    if COMMENTAIRE.snapshot(c) == before:
        return c  # nothing changed: no new version
    c.modifie_le = now
    await _bump(session, c)
    await session.flush()
    await HISTORY.record(session, principal, COMMENTAIRE, c, before, evenement=MODIFICATION)
    added = [str(m["id"]) for m in c.mentions if str(m["id"]) not in already]
    if added:
        action = await drepo.action_of(session, c)
        await events.commentaire(
            session, principal, convention, action, c, participants=None, mentionnes=added
        )
    return c


async def delete(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    commentaire_id: uuid.UUID,
) -> None:
    """Its author deletes it, or a Caf agent of the convention moderates it: a tombstone
    stays (If-Match required)."""
    c, convention = await load_commentaire(session, principal, commentaire_id, for_update=True)
    own = c.auteur_id == principal.subject and is_party_writer(principal, convention)
    if not (own or is_caf_agent(principal, convention)):
        raise Forbidden(
            "Seuls son auteur et les agents de la Caf de la convention (modération) "
            "suppriment un commentaire."
        )
    preconditions.check(etag_for(c.id, c.version))
    _require_standing(c)
    before = COMMENTAIRE.snapshot(c)
    c.texte = None
    c.mentions = []
    c.supprime_le = ctx.settings.now()
    c.supprime_par = (SupprimePar.auteur if own else SupprimePar.moderation).value
    await _bump(session, c)
    await session.flush()
    await HISTORY.record(
        session,
        principal,
        COMMENTAIRE,
        c,
        before,
        evenement=SUPPRESSION if own else MODERATION,
    )
