"""The notifications service: in-app notifications and e-mails of the domain events."""
