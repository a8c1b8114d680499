"""Read docker-compose.yml and .env.example the way docker compose does (the subset we use).

Used by `coop config-doc` and by tests/deploy, so the documented configuration and the
production stack are checked against the settings classes the apps really read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "realm-cooperation.json"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, and $$.
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariable(KeyError):
    pass


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines; single quotes literal, double quotes stripped, # comments."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=VALUE: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = variables.get(name)
        if op in (":-", ":?") and present == "":
            present = None
        if present is not None:
            return present
        if op in (":-", "-"):
            return arg or ""
        raise MissingVariable(name)

    return _VARIABLE.sub(replace, value)


def variables_without_default(text: str) -> set[str]:
    """Names used as ${VAR} or ${VAR:?...}: they must be provided by `.env`."""
    return {
        m.group("name")
        for m in _VARIABLE.finditer(text)
        if m.group("name") and m.group("op") not in (":-", "-")
    }


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    import yaml  # development tooling only: not needed to run the apps

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def raw_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {k: v for k, _, v in pairs}
    return {
        str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in env.items()
    }


def container_environment(
    compose: dict[str, Any], service: str, variables: dict[str, str]
) -> dict[str, str]:
    raw = raw_environment(compose["services"][service])
    return {key: interpolate(value, variables) for key, value in raw.items()}


def serve_command(service: dict[str, Any]) -> str | None:
    """The app a container serves (`command: ["serve", "<app>"]`), if any."""
    command = service.get("command")
    if isinstance(command, list) and len(command) == 2 and command[0] == "serve":
        return str(command[1])
    return None
