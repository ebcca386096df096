"""``--engine`` and ``--broker`` for the commands that run hosts (light: no Celery import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.errors import UsageError

if TYPE_CHECKING:
    from toolkit.engine.controller import EngineOptions

ENGINE_HELP = (
    "local: every host from this machine; celery: hosts with an inventory `site` on that "
    "site's `psfleet worker` (the others here)."
)
BROKER_HELP = (
    "Redis URL of the engine (redis:// or rediss://), without a password: else PSFLEET_BROKER "
    "or the config file's broker; a password in REDISCLI_AUTH."
)


def engine_for(engine: str, broker: str | None, *, command: str = "audit") -> EngineOptions | None:
    """None for ``local``; the engine's options for ``celery`` (a usage error otherwise, or
    when no broker is given or Celery is not installed)."""
    if engine not in ("local", "celery"):
        raise UsageError(f"unknown engine {engine!r}; choose local or celery", field="--engine")
    if engine == "local":
        if broker:
            raise UsageError("--broker needs --engine celery", field="--broker")
        return None
    from toolkit.config import load_config
    from toolkit.engine.app import resolve_broker

    url = resolve_broker(broker, config_value=load_config().get("broker", command))
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        raise UsageError(
            "--engine celery needs Celery and redis: pip install 'psfleet[engine]'", field="--engine"
        ) from None
    from toolkit.engine.controller import EngineOptions

    return EngineOptions.from_env(url)
