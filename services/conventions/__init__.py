"""The conventions service: organisations, conventions, signataires and their lifecycle."""
