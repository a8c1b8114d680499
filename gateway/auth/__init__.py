"""OIDC resource server: access token validation and the JWKS cache."""
