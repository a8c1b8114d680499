"""The API gateway: OIDC resource server, habilitations, the one public API."""
