"""The whole suite as real processes on free loopback ports, wired to each other.

Used where the suite must run for real but beside anything else on the machine:
the end-to-end tests and the benchmark. (`coop run` uses the default ports.)
Each app is `coop serve <app>` in its own process (the benchmark overrides `command`),
started and stopped by `coop.supervisor`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from coop.apps import APPS, AppSpec
from coop.ports import free_port
from coop.supervisor import Child, spawn, stop_all, wait_ready


@dataclass
class Stack:
    """The suite on `database_url`, its files (document storage, IdP keys, logs) in `work_dir`."""

    database_url: str
    work_dir: Path
    # A clamd socket for the documents service; None disables scanning (visibly).
    clamd_address: str | None = None
    rate_limit: bool = True
    ports: dict[str, int] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work_dir = self.work_dir.resolve()
        for name in APPS:
            self.ports.setdefault(name, free_port())

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env_for(self, spec: AppSpec) -> dict[str, str]:
        prefix = spec.env_prefix
        env = {
            "DATABASE_URL": self.database_url,
            "PYTHONUNBUFFERED": "1",
            prefix + "HOST": "127.0.0.1",
            prefix + "PORT": str(self.ports[spec.name]),
            # Never the default (port + 1000): it may be taken on a shared machine.
            prefix + "METRICS_PORT": str(free_port()),
        }
        if spec.name in ("actions", "documents", "gateway"):
            env[prefix + "CONVENTIONS_URL"] = self.url("conventions")
        if spec.name == "conventions":
            env[prefix + "ACTIONS_URL"] = self.url("actions")
        if spec.name == "actions":
            env[prefix + "DOCUMENTS_URL"] = self.url("documents")
        if spec.name == "documents":
            env[prefix + "STORAGE_ROOT"] = str(self.work_dir / "documents")
            if self.clamd_address:
                env[prefix + "CLAMD_ADDRESS"] = self.clamd_address
                env[prefix + "ANTIVIRUS"] = "true"
            else:
                env[prefix + "ANTIVIRUS"] = "false"
        if spec.name == "idp":
            env[prefix + "KEY_DIR"] = str(self.work_dir / "idp")
            env[prefix + "ISSUER"] = self.url("idp")
            env[prefix + "CONSOLE_ORIGINS"] = json.dumps([self.url("gateway")])
        if spec.name == "notifications":
            # The feeds it follows are this stack's; no SMTP server listens on that port
            # (messages wait and are retried: nothing leaves a benchmark or a test).
            env[prefix + "GATEWAY_URL"] = self.url("gateway")
            env[prefix + "ACTIONS_URL"] = self.url("actions")
            env[prefix + "SMTP_PORT"] = str(free_port())
        if spec.name == "gateway":
            services = {
                n: self.url(n) for n in ("conventions", "actions", "documents", "notifications")
            }
            env[prefix + "SERVICE_URLS"] = json.dumps(services)
            env[prefix + "OIDC_ISSUER"] = self.url("idp")
            env[prefix + "RATE_LIMIT_ENABLED"] = "true" if self.rate_limit else "false"
        return env

    def command(self, spec: AppSpec) -> list[str]:
        return spec.serve_argv()

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        """One more child of this stack, its output in `work_dir/logs/<name>.log`."""
        child = spawn(name, argv, env, self.work_dir / "logs" / f"{name}.log")
        self.children.append(child)
        return child

    def start(self, base_env: dict[str, str], *, timeout: float = 90.0) -> None:
        """Start every app (registry order), then wait until each answers its probe."""
        for spec in APPS.values():
            self.spawn(spec.name, self.command(spec), {**base_env, **self.env_for(spec)})
        for child in self.children:
            wait_ready(child, self.url(child.name) + APPS[child.name].probe_path, timeout=timeout)
        self.start_worker(base_env, timeout=timeout)

    def worker_env(self) -> dict[str, str]:
        """What `coop worker` needs: the settings of every app whose jobs it runs."""
        env: dict[str, str] = {}
        for spec in APPS.values():
            if spec.jobs is not None:
                env.update(self.env_for(spec))
        env["COOP_WORKER_HEARTBEAT_FILE"] = str(self.work_dir / "worker.heartbeat")
        return env

    def start_worker(self, base_env: dict[str, str], *, timeout: float = 90.0) -> None:
        from coop.run_suite import start_worker

        env = {**base_env, **self.worker_env()}
        child = start_worker(env, self.work_dir / "logs" / "worker.log", timeout)
        self.children.append(child)

    def pid(self, name: str) -> int:
        return next(c.process.pid for c in self.children if c.name == name)

    def stop(self) -> None:
        stop_all(self.children, sigint_timeout=10.0, sigterm_timeout=5.0)
        self.children.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
