"""The other events of issue 25 reach the right people and no one else: grants about to
end, bilans adopted, the CDSF agreements asked and recalled weekly, comments corrected
to mention someone new. Each through the real gateway, actions service, notifications
service and SMTP server; time moved by the jobs' clock, never by sleeping.

Issue 25: "grant expiring (J-30, J-7) → its holder and those who may renew it; bilan
adopted → the convention's people; a bilan whose petite-enfance part awaits the
collectivités' agreement before going to the CDSF → the referents who have not yet
agreed (and again weekly until they do or the Caf withdraws the request)"; "recipients
are resolved from the habilitations at sending time: someone whose grant was revoked
... hears nothing about it"."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from coop.mailbox import html_of, text_of
from gateway.habilitations.expiry import announce_expiring
from kernel.principal import OrganisationKind, Role
from services.actions import service_cdsf
from services.notifications.messages import GATEWAY
from tests.gateway.habilitations.rig import CONVENTION_A, revoke
from tests.notifications.conftest import World
from tests.notifications.test_flow import _action_with_suivi, _mine
from tests.support.conventions import sections_completes
from tests.support.personas import CAF_A, CAF_B, COLLECTIVITE_X, COLLECTIVITE_Y

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite
APP = "https://app.cooperation.test"


def _days(n: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=n)


async def _types(w: World, who: str) -> list[str]:
    return [n["type"] for n in (await _mine(w, who))["items"]]


async def _link_works(w: World, who: str, lien: str) -> None:
    """The link's path is a route of the API that answers its reader (the app's pages
    are the API's resources, under the app's base URL)."""
    assert lien.startswith(APP + "/"), lien
    path = urllib.parse.urlsplit(lien).path
    resp = await w.as_(who, "GET", f"/api/v1{path}")
    assert resp.status_code == 200, (lien, resp.text)


# --- grants about to end ----------------------------------------------------------------------


async def test_a_grant_about_to_end_is_announced_at_j30_and_j7_to_its_holder_and_renewers(
    world: World,
) -> None:
    """Who may renew a collectivité's contributeur: the agents and administrateurs of the
    Cafs of its conventions, its referents (gateway/habilitations/service.py)."""
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("admin", CAF_A, CAF, Role.administrateur)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    parti = await w.hab.grant("parti", COLLECTIVITE_X, COLL, Role.referent)
    await w.hab.grant("autre_caf", CAF_B, CAF, Role.agent)
    await w.hab.grant("referent_y", COLLECTIVITE_Y, COLL, Role.referent)
    await w.hab.grant("collegue", COLLECTIVITE_X, COLL, Role.contributeur)
    grant = await w.hab.grant(
        "contrib", COLLECTIVITE_X, COLL, Role.contributeur, valid_until=_days(40)
    )
    names = ("agent", "admin", "referent", "parti", "autre_caf", "referent_y", "collegue")
    for name in (*names, "contrib"):
        await w.login(name)

    sessions = w.hab.sessionmaker
    assert await announce_expiring(sessions, _days(5)) == 0  # 35 days left: not yet
    assert await announce_expiring(sessions, _days(11)) == 1  # 29 days left: J-30
    assert await announce_expiring(sessions, _days(12)) == 0  # once per step
    # Revoked before the notice is acted on: "parti" hears nothing of it.
    await revoke(w.hab, parti, "agent")
    assert await w.follow(GATEWAY) == 1

    told = ("contrib", "agent", "admin", "referent")
    for name in told:
        (notice,) = (await _mine(w, name))["items"]
        assert notice["type"] == "habilitation.expire_bientot"
        assert notice["famille"] == "habilitations"
    fin = (_days(40)).date().strftime("%d/%m/%Y")
    assert notice["titre"] == f"Habilitation contributeur : fin le {fin}"
    assert notice["texte"].startswith(
        "L'habilitation contributeur de Contrib sur « Collectivité X (test) » prend fin le "
    )
    assert notice["lien"] == f"{APP}/habilitations/{grant}"
    for name in ("contrib", "referent"):
        await _link_works(w, name, notice["lien"])
    # Not its colleague, not a Caf or collectivité of other conventions, not the revoked.
    for name in ("parti", "autre_caf", "referent_y", "collegue"):
        assert await _types(w, name) == [], name

    assert await w.send() == 4
    mails = {m["To"]: m for m in w.mails()}
    assert sorted(mails) == sorted(f"{n}@test.invalid" for n in told)
    mail = mails["contrib@test.invalid"]
    assert mail["Subject"] == f"Habilitation contributeur : fin le {fin}"
    assert text_of(mail).startswith("Bonjour Contrib,")
    assert f"{APP}/habilitations/{grant}" in text_of(mail)
    assert f'<a href="{APP}/habilitations/{grant}"' in html_of(mail)
    assert mail["Content-Language"] == "fr"

    # J-7: once more, once.
    assert await announce_expiring(sessions, _days(34)) == 1
    assert await announce_expiring(sessions, _days(35)) == 0
    assert await w.follow(GATEWAY) == 1
    assert await _types(w, "contrib") == ["habilitation.expire_bientot"] * 2
    assert await _types(w, "parti") == []


async def test_a_grant_renewed_before_j7_is_not_announced_for_its_old_end(world: World) -> None:
    w = world
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await w.login("referent")
    grant = await w.hab.grant(
        "contrib", COLLECTIVITE_X, COLL, Role.contributeur, valid_until=_days(40)
    )
    await w.login("contrib")
    assert await announce_expiring(w.hab.sessionmaker, _days(11)) == 1  # J-30

    # The referent renews it for 100 days from now (the API's rule: its referent may).
    path = f"/api/v1/habilitations/{grant}"
    etag = (await w.as_("referent", "GET", path)).headers["etag"]
    until = _days(100).isoformat()
    renewed = await w.as_(
        "referent",
        "POST",
        f"{path}/renouvellement",
        json={"valide_jusqu_au": until},
        headers={"if-match": etag},
    )
    assert renewed.status_code == 200, renewed.text

    # The old end's J-7 never comes; the new end has its own J-30, once.
    assert await announce_expiring(w.hab.sessionmaker, _days(34)) == 0
    assert await announce_expiring(w.hab.sessionmaker, _days(71)) == 1
    assert await announce_expiring(w.hab.sessionmaker, _days(72)) == 0
    # Revoked after its notice was recorded: no longer about to end, nobody is told.
    await revoke(w.hab, grant, "referent")
    assert await w.follow(GATEWAY) == 2
    assert (await _mine(w, "contrib"))["items"] == []
    assert (await _mine(w, "referent"))["items"] == []


# --- bilans --------------------------------------------------------------------------------------


async def _bilan(w: World, *, adopt: bool = True) -> tuple[str, dict[str, Any]]:
    debut = (dt.datetime.now(dt.UTC) - dt.timedelta(days=90)).date()
    created = await w.as_(
        "agent",
        "POST",
        f"/api/v1/conventions/{CONVENTION_A}/bilans",
        json={
            "type": "point d'étape annuel",
            "periode_debut": debut.isoformat(),
            "periode_fin": (debut + dt.timedelta(days=60)).isoformat(),
            "sections": sections_completes("point d'étape annuel"),
        },
    )
    assert created.status_code == 201, created.text
    bilan: dict[str, Any] = created.json()
    if adopt:
        bilan = await _on_bilan(
            w,
            "agent",
            "POST",
            bilan["id"],
            "adoption",
            json={"date_adoption": dt.datetime.now(dt.UTC).date().isoformat()},
        )
    return str(bilan["id"]), bilan


async def _on_bilan(
    w: World, who: str, method: str, bilan_id: str, what: str, **kw: Any
) -> dict[str, Any]:
    path = f"/api/v1/bilans/{bilan_id}"
    etag = (await w.as_(who, "GET", path)).headers["etag"]
    resp = await w.as_(who, method, f"{path}/{what}", headers={"if-match": etag}, **kw)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_an_adopted_bilan_reaches_the_convention_s_people(world: World) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("lecteur", COLLECTIVITE_X, COLL, Role.lecteur)
    parti = await w.hab.grant("parti", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("autre_caf", CAF_B, CAF, Role.agent)
    await w.hab.grant("contrib_y", COLLECTIVITE_Y, COLL, Role.contributeur)
    for name in ("agent", "referent", "contrib", "lecteur", "parti", "autre_caf", "contrib_y"):
        await w.login(name)

    bilan_id, _ = await _bilan(w, adopt=False)
    adopted = await _on_bilan(
        w,
        "referent",
        "POST",
        bilan_id,
        "adoption",
        json={"date_adoption": dt.datetime.now(dt.UTC).date().isoformat()},
    )
    assert adopted["etat"] == "adopté"
    await revoke(w.hab, parti, "referent")
    assert await w.follow() == 1

    annee = (dt.datetime.now(dt.UTC) - dt.timedelta(days=90)).year
    # The Caf's agent and the collectivité's people; not who entered it, not the revoked,
    # not the people of another convention.
    for name in ("agent", "contrib", "lecteur"):
        (n,) = (await _mine(w, name))["items"]
        assert n["type"] == "bilan.adopte"
        assert n["famille"] == "bilans"
        assert n["titre"] == "Bilan adopté : CTG de X"
        assert n["texte"].startswith(f"Le COPIL a adopté le point d'étape annuel {annee}")
        assert n["lien"] == f"{APP}/bilans/{bilan_id}"
        await _link_works(w, name, n["lien"])
    for name in ("referent", "parti", "autre_caf", "contrib_y"):
        assert await _types(w, name) == [], name
    assert await w.send() == 3
    assert sorted(m["To"] for m in w.mails()) == [
        "agent@test.invalid",
        "contrib@test.invalid",
        "lecteur@test.invalid",
    ]
    assert all(m["Subject"] == "Bilan adopté : CTG de X" for m in w.mails())


async def _cdsf(w: World, who: str) -> list[dict[str, Any]]:
    """The person's notifications of CDSF agreements, newest first."""
    items = (await _mine(w, who))["items"]
    return [n for n in items if n["type"].startswith("bilan.accord_cdsf")]


async def test_cdsf_agreement_asked_then_recalled_weekly_until_withdrawn_or_given(
    world: World,
) -> None:
    """The seeds (003, art. 9): "Avec l'accord express des collectivités locales, la Caf
    peut transmettre au CDSF les éléments de la CTG [...] ainsi que son bilan
    intermédiaire et final": the referents of the collectivités still to agree are asked,
    then reminded each week, never twice in a week."""
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    parti = await w.hab.grant("parti", COLLECTIVITE_X, COLL, Role.referent)
    await w.hab.grant("referent_y", COLLECTIVITE_Y, COLL, Role.referent)
    for name in ("agent", "referent", "contrib", "parti", "referent_y"):
        await w.login(name)
    draft, _ = await _bilan(w, adopt=False)
    bilan_id, _ = await _bilan(w)
    assert await w.follow() == 1  # the adoption (the draft is not adopted)
    remind = service_cdsf.remind

    # Only a Caf agent asks, only on an adopted bilan.
    path = f"/api/v1/bilans/{draft}/demande-accords-cdsf"
    etag = (await w.as_("agent", "GET", f"/api/v1/bilans/{draft}")).headers["etag"]
    refused = await w.as_("agent", "POST", path, headers={"if-match": etag})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "bilan-non-adopte"
    etag = (await w.as_("referent", "GET", f"/api/v1/bilans/{bilan_id}")).headers["etag"]
    forbidden = await w.as_(
        "referent",
        "POST",
        f"/api/v1/bilans/{bilan_id}/demande-accords-cdsf",
        headers={"if-match": etag},
    )
    assert forbidden.status_code == 403, forbidden.text

    asked = await _on_bilan(w, "agent", "POST", bilan_id, "demande-accords-cdsf")
    assert asked["accords_demandes_le"] is not None
    # Asked again: nothing new.
    again = await _on_bilan(w, "agent", "POST", bilan_id, "demande-accords-cdsf")
    assert again["accords_demandes_le"] == asked["accords_demandes_le"]
    await revoke(w.hab, parti, "agent")
    assert await w.follow() == 1
    (demande,) = await _cdsf(w, "referent")
    assert demande["type"] == "bilan.accord_cdsf_demande"
    assert demande["famille"] == "bilans"
    assert demande["titre"] == "Accord demandé pour la CDSF : CTG de X"
    assert demande["lien"] == f"{APP}/bilans/{bilan_id}"
    await _link_works(w, "referent", demande["lien"])
    # Referents only; not the revoked one, not another convention's.
    for name in ("contrib", "parti", "referent_y", "agent"):
        assert await _cdsf(w, name) == [], name

    # Weekly: not before the week is out, once in a week.
    assert await remind(w.sessionmaker, _days(6)) == 0
    assert await remind(w.sessionmaker, _days(7.1)) == 1
    assert await remind(w.sessionmaker, _days(8)) == 0
    assert await remind(w.sessionmaker, _days(14.1)) == 1
    assert await w.follow() == 2
    rappels = [n["type"] for n in await _cdsf(w, "referent")]
    assert rappels == ["bilan.accord_cdsf_rappel"] * 2 + ["bilan.accord_cdsf_demande"]
    assert (await _cdsf(w, "referent"))[0]["titre"] == (
        "Rappel : votre accord pour la CDSF est attendu (CTG de X)"
    )
    assert await _cdsf(w, "parti") == []

    # Withdrawn: no more reminders.
    withdrawn = await _on_bilan(w, "agent", "DELETE", bilan_id, "demande-accords-cdsf")
    assert withdrawn["accords_demandes_le"] is None
    assert await remind(w.sessionmaker, _days(21.1)) == 0

    # Asked again, then given: no more reminders either.
    await _on_bilan(w, "agent", "POST", bilan_id, "demande-accords-cdsf")
    agreed = await w.as_("contrib", "POST", f"/api/v1/bilans/{bilan_id}/accords-cdsf", json={})
    assert agreed.status_code == 200, agreed.text
    assert await remind(w.sessionmaker, _days(7.1)) == 0
    assert await remind(w.sessionmaker, _days(14.1)) == 0
    complete = await w.as_(
        "agent",
        "POST",
        f"/api/v1/bilans/{bilan_id}/demande-accords-cdsf",
        headers={"if-match": agreed.headers["etag"]},
    )
    assert complete.status_code == 409
    assert complete.json()["code"] == "accords-complets"
    assert await w.follow() == 1  # the second request
    assert [n["type"] for n in await _cdsf(w, "referent")] == [
        "bilan.accord_cdsf_demande",
        *rappels,
    ]

    # The adoption to the collectivité's three people (the second referent was revoked
    # later); the request twice and the two reminders to the referent only.
    assert await w.send() == 7
    cdsf = [m for m in w.mails() if "CDSF" in str(m["Subject"])]
    assert len(cdsf) == 4
    assert {m["To"] for m in cdsf} == {"referent@test.invalid"}
    assert f"{APP}/bilans/{bilan_id}" in text_of(cdsf[0])


# --- discussions -------------------------------------------------------------------------------


async def test_a_corrected_comment_tells_only_the_newly_mentioned_and_a_deleted_one_nobody(
    world: World,
) -> None:
    w = world
    await w.hab.grant("agent", CAF_A, CAF, Role.agent)
    await w.hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    await w.hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    parti = await w.hab.grant("parti", COLLECTIVITE_X, COLL, Role.contributeur)
    ids = {n: str(await w.login(n)) for n in ("agent", "contrib", "referent", "parti")}
    action_id, _ = await _action_with_suivi(w)
    posted = await w.as_(
        "contrib",
        "POST",
        f"/api/v1/actions/{action_id}/commentaires",
        json={"texte": "Qui a les chiffres ?", "mentions": [ids["agent"]]},
    )
    assert posted.status_code == 201, posted.text
    assert await w.follow() == 2  # published (no other participant yet), mention
    assert await _types(w, "agent") == ["commentaire.mention"]

    one = f"/api/v1/commentaires/{posted.json()['id']}"
    everyone = [ids["agent"], ids["referent"], ids["parti"]]
    edited = await w.as_(
        "contrib",
        "PATCH",
        one,
        json={"mentions": everyone},
        headers={"if-match": posted.headers["etag"]},
    )
    assert edited.status_code == 200, edited.text
    await revoke(w.hab, parti, "referent")
    assert await w.follow() == 1
    # The newly mentioned referent only: the agent was told already, "parti" is revoked.
    (mention,) = (await _mine(w, "referent"))["items"]
    assert mention["type"] == "commentaire.mention"
    assert mention["lien"].startswith(f"{APP}/actions/{action_id}/commentaires#commentaire-")
    await _link_works(w, "referent", mention["lien"])
    assert await _types(w, "agent") == ["commentaire.mention"]
    assert await _types(w, "parti") == []

    # Deleted: nobody is told.
    deleted = await w.as_("contrib", "DELETE", one, headers={"if-match": edited.headers["etag"]})
    assert deleted.status_code == 204, deleted.text
    assert await w.follow() == 0
    assert await _types(w, "agent") == ["commentaire.mention"]
    assert await _types(w, "referent") == ["commentaire.mention"]
    assert await _types(w, "parti") == []
    assert await _types(w, "contrib") == []
