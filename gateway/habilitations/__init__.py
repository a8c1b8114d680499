"""Habilitations: who may use Coopération, on which organisation, with which role."""
