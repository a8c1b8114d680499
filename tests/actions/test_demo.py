"""The demo step fills a plan with suivis in every state, and a second run changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from coop.demo_actions import demo_step
from coop.demo_ids import CONVENTION_GRESIVAUDAN, CONVENTION_VIENNE_2022, CONVENTION_VOIRON
from services.actions.models import Action, Bilan, Suivi, convention_ref
from services.actions.rules import TypeBilan, sections_vides


async def test_demo_is_complete_and_idempotent(db_engine: AsyncEngine) -> None:
    for _ in range(2):
        async with AsyncSession(db_engine) as session:
            await demo_step(session)
            await session.commit()
    async with AsyncSession(db_engine) as session:
        refs = set((await session.execute(select(convention_ref.c.id))).scalars())
        assert refs == {CONVENTION_VOIRON, CONVENTION_GRESIVAUDAN, CONVENTION_VIENNE_2022}
        etats = set((await session.execute(select(Suivi.etat).distinct())).scalars())
        assert etats == {"brouillon", "soumis", "validé", "à compléter"}
        assert (await session.execute(select(func.count()).where(Suivi.alerte))).scalar_one() >= 1
        n_actions = (await session.execute(select(func.count()).select_from(Action))).scalar_one()
        assert n_actions == 14
        bilans = (await session.execute(select(Bilan).order_by(Bilan.type))).scalars().all()
        # Vienne's bilan final, adopted: what its renewal in the README tour requires.
        assert [(b.type, b.convention_id, b.etat) for b in bilans] == [
            ("bilan final", CONVENTION_VIENNE_2022, "adopté"),
            ("bilan intermédiaire", CONVENTION_GRESIVAUDAN, "adopté"),
        ]
        assert all(b.instantane is not None for b in bilans)
        # Adopted with every section of their kind, as the service requires.
        assert [sections_vides(TypeBilan(b.type), b.sections) for b in bilans] == [[], []]
