"""The development identity provider: a small OIDC issuer for `make run` and tests.

Never in production: its settings and its factory both refuse production mode.
"""
