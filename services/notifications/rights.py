"""The right each route of the notifications service requires (see `kernel.rights`).

A person's notifications are theirs alone: every query is filtered on the caller's id
(the internal token's `sub`), so another's is a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from kernel.principal import Principal, Role
from kernel.rights import Right, ServiceRight

# Any authenticated caller: their own notifications (none for a machine client).
MyNotifications = Annotated[Principal, Depends(ServiceRight(Right("MyNotifications")))]
# Any authenticated caller: their own preferences (a machine client is refused: 403).
MyPreferences = Annotated[Principal, Depends(ServiceRight(Right("MyPreferences")))]
# The delivery log of a Caf's people: its administrators.
DeliveryLogRead = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "DeliveryLogRead",
                frozenset({Role.administrateur}),
                "Seuls les administrateurs d'une Caf lisent le journal d'envoi des e-mails.",
            )
        )
    ),
]
