"""Rows written before a migration come out of it with what was known."""

from __future__ import annotations

import asyncio
import uuid

from kernel.migrations import upgrade
from tests.support.fresh_database import fresh_database
from tests.support.fresh_database import run_sql as _run

CAF = uuid.uuid4()
__all__ = ["fresh_database"]


INSERT_CONVENTION = """
    INSERT INTO conventions.convention (id, caf_id, echelon, titre, date_debut, date_fin,
        thematiques, objectifs_partages, copil_commissions, statut, resiliation_mode,
        resiliation_date_notification, resiliation_motif, date_effet_resiliation,
        numero_version, version, seq)
    VALUES ($1, $2, 'commune', $3, '2023-01-01', '2027-12-31', '{}', '{}', '{}',
        'résiliée', $3, '2026-01-10', 'motif', '2026-02-10', 1, 1, $4)
"""


def test_existing_resiliations_are_migrated_with_what_is_known(fresh_database: str) -> None:
    """003 art. 12: "résiliée de plein droit par la Caf, sans qu'il soit besoin de
    procéder à une mise en demeure": such rows were initiated by the Caf; who sent a
    mise en demeure or gave notice was never recorded (NULL). "Résiliation par
    consentement mutuel" (the heading of a dénonciation with six months' notice) is
    called a dénonciation."""
    url = fresh_database
    upgrade("conventions", url, "0001")
    modes = {"avec mise en demeure": 1, "sans mise en demeure": 2, "consentement mutuel": 3}
    ids = {mode: uuid.uuid4() for mode in modes}
    asyncio.run(
        _run(
            url,
            "INSERT INTO conventions.organisation (id, type, nom, version)"
            " VALUES ($1, 'Caf', 'Caf', 1)",
            CAF,
        )
    )
    for mode, seq in modes.items():
        asyncio.run(_run(url, INSERT_CONVENTION, ids[mode], CAF, mode, seq))
    upgrade("conventions", url)
    rows = asyncio.run(
        _run(
            url,
            "SELECT id, resiliation_mode, resiliation_initiateur_id,"
            " resiliation_mise_en_demeure_id, ctg_existante, resiliation_date_notification"
            " FROM conventions.convention",
        )
    )
    by_id = {r["id"]: r for r in rows}
    migrated = {mode: by_id[cid] for mode, cid in ids.items()}
    assert migrated["sans mise en demeure"]["resiliation_initiateur_id"] == CAF
    assert migrated["avec mise en demeure"]["resiliation_initiateur_id"] is None
    assert migrated["consentement mutuel"]["resiliation_mode"] == "dénonciation"
    assert migrated["consentement mutuel"]["resiliation_initiateur_id"] is None
    assert {r["resiliation_mode"] for r in rows} == {
        "avec mise en demeure",
        "sans mise en demeure",
        "dénonciation",
    }
    assert all(r["resiliation_mise_en_demeure_id"] is None for r in rows)
    assert not any(r["ctg_existante"] for r in rows)
    # The letter's date of a résiliation avec mise en demeure stays where it was.
    assert str(migrated["avec mise en demeure"]["resiliation_date_notification"]) == "2026-01-10"
