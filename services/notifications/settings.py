"""Settings of the notifications service (env prefix ``COOP_NOTIFICATIONS_``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# `coop run`'s local SMTP server (coop/mailbox.py): development only.
DEV_SMTP_PORT = 8025
DEV_UNSUBSCRIBE_SECRET = "dev-unsubscribe-secret-not-for-production"  # noqa: S105


class SmtpSecurity(StrEnum):
    aucune = "aucune"
    starttls = "starttls"
    tls = "tls"


class NotificationsSettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_NOTIFICATIONS_")
    app_name: ClassVar[str] = "notifications"

    port: int = 8004
    # The services whose event feeds it follows (kernel.outbox), and the gateway (who
    # may hear of what: kernel.people_ref).
    gateway_url: str = "http://127.0.0.1:8000"
    actions_url: str = "http://127.0.0.1:8002"
    # How often `coop worker` reads the feeds, and sends the e-mails waiting.
    follow_seconds: float = Field(default=2.0, gt=0)
    send_seconds: float = Field(default=5.0, gt=0)
    # How often `coop worker` looks for digests due (07:00 Europe/Paris has passed).
    digest_seconds: float = Field(default=300.0, gt=0)
    # How often `coop worker` computes the campaigns' reminders due today (each is sent
    # once whatever the interval: an hour is plenty for day-sized steps).
    rappels_seconds: float = Field(default=3600.0, gt=0)
    # Calls to the gateway and the feeds give up after this long (503, retried).
    http_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # SMTP. The default is `coop run`'s local server, refused in production.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=DEV_SMTP_PORT, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.aucune
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "Coopération <ne-pas-repondre@cooperation.invalid>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A message is tried this many times, waiting retry_base_seconds × 2^(n-1) between
    # tries, then marked "échec" with the last reason.
    send_max_attempts: int = Field(default=6, ge=1, le=20)
    retry_base_seconds: float = Field(default=30.0, gt=0)

    # Links in messages: the app people open (an object's page, an invitation's
    # acceptance) and the public API (the one-click unsubscribe).
    app_base_url: str = "http://127.0.0.1:8000/app"
    api_base_url: str = "http://127.0.0.1:8000"
    # Signs the unsubscribe links (HMAC-SHA256): changing it voids the links sent.
    unsubscribe_secret: SecretStr = SecretStr(DEV_UNSUBSCRIBE_SECRET)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.smtp_host in _LOOPBACK_HOSTS or self.smtp_port == DEV_SMTP_PORT:
            problems.append("the SMTP server is the development one (loopback or port 8025)")
        if self.smtp_security is SmtpSecurity.aucune:
            problems.append("SMTP without TLS")
        if self.unsubscribe_secret.get_secret_value() == DEV_UNSUBSCRIBE_SECRET:
            problems.append("the unsubscribe secret is the development one")
        for name in ("app_base_url", "api_base_url"):
            if urlsplit(getattr(self, name)).scheme != "https":
                problems.append(f"{name} is not https")
        return problems
