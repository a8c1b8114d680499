"""Authentication failures: 401 problem+json with an RFC 6750 challenge."""

from __future__ import annotations

from kernel.errors import DomainError, Unauthorized

REALM = "coop"


def missing_token() -> Unauthorized:
    # RFC 6750 §3.1: no error code when the request carries no credentials.
    return Unauthorized(
        "Jeton d'accès manquant.", headers={"www-authenticate": f'Bearer realm="{REALM}"'}
    )


def invalid_token(detail: str, description: str) -> Unauthorized:
    """`detail` is for people (French); `description` goes in the header (ASCII)."""
    challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
    return Unauthorized(detail, headers={"www-authenticate": challenge})


class IdentityProviderUnavailable(DomainError):
    status = 503
    slug = "identity-provider-unavailable"
    title = "Fournisseur d'identité injoignable"
