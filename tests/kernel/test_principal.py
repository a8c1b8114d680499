"""Who a caller is, as the gateway's internal token says it."""

from __future__ import annotations

import uuid

from kernel.principal import Principal, PrincipalKind


def test_a_person_holds_grants_and_is_a_person_a_machine_client_only_holds_grants() -> None:
    """The gateway records persons as authors (invitations, decisions, grants' events:
    columns referencing its persons) and both persons and machine clients as holders of
    grants; a service, calling internal routes, is neither."""
    some = uuid.uuid4()
    person = Principal(subject=str(some), kind=PrincipalKind.person)
    client = Principal(subject=str(some), kind=PrincipalKind.client)
    service = Principal(subject="actions", kind=PrincipalKind.service)
    foreign = Principal(subject="sub-from-elsewhere", kind=PrincipalKind.person)
    assert (person.holder_id, person.person_id) == (some, some)
    assert (client.holder_id, client.person_id) == (some, None)
    assert (service.holder_id, service.person_id) == (None, None)
    assert (foreign.holder_id, foreign.person_id) == (None, None)
