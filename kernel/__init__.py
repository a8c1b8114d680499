"""Shared kernel of the Coopération suite.

Everything here takes its configuration as parameters: the kernel imports no
service's code or settings, so every app (conventions, actions, documents,
gateway) can depend on it without depending on each other.
"""
