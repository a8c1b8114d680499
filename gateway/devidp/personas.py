"""The demo personas and machine clients of the development identity provider.

A persona's `sub` is stable (coop.demo_ids), so the demo grants of the habilitations
can be written for it before anyone logs in.
"""

from __future__ import annotations

from dataclasses import dataclass

from coop.demo_ids import demo_id


@dataclass(frozen=True)
class Persona:
    name: str
    display_name: str

    @property
    def subject(self) -> str:
        return str(demo_id(f"person:{self.name}"))

    @property
    def email(self) -> str:
        return f"{self.name}@demo.coop.invalid"


PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona("caf-agent", "Agnès Caf-Isère (agent)"),
        Persona("caf-lecteur", "Louis Caf-Isère (lecteur)"),
        Persona("caf-admin", "Adèle Caf-Isère (administratrice)"),
        Persona("autre-caf-agent", "Bruno Caf-Drôme (agent)"),
        Persona("collectivite-referent", "Rémi Voiron (référent)"),
        Persona("collectivite-contributeur", "Coralie Voiron (contributrice)"),
        Persona("collectivite-lecteur", "Léa Voiron (lectrice)"),
        Persona("autre-collectivite", "Yves Valence (contributeur)"),
        Persona("national", "Nadia Cnaf (lectrice nationale)"),
    )
}

# Demo machine clients (client_credentials); their secrets are in DevIdpSettings.
CLIENTS: tuple[str, ...] = ("partenaire", "back-office")
