"""``psfleet worker``: a site worker of the scale-out engine (Celery, Redis)."""

from __future__ import annotations

import os
import socket

import typer

from toolkit.cli.common import say, setup_logging
from toolkit.errors import UsageError

WORKER_HELP = """Run a site worker: consume the site's queue on the broker and run its hosts.

The worker takes batches of hosts whose inventory `site` is NAME, runs them with psfleet's
own fan-out (the batch's --forks, --timeout and --retries; this machine's transport) and
streams each host's result back as it is known. Credentials are resolved here, from the
sources the inventory names (password_env variables of this process, keyring entries of
this user, Kerberos tickets): set them in this worker's environment.

The broker URL: --broker (never with a password: command lines are visible to other
users), else PSFLEET_BROKER, else the config file's `broker`; a Redis password goes in
PSFLEET_BROKER's URL or in REDISCLI_AUTH. Use rediss:// for TLS.

SIGTERM (systemctl stop) stops taking batches and finishes the ones in flight; a worker
that dies instead hands its batches back to the site's queue (late acknowledgement).

A systemd unit (/etc/systemd/system/psfleet-worker@.service, one instance per site:
`systemctl enable --now psfleet-worker@paris`):

\b
  [Unit]
  Description=psfleet site worker %i
  After=network-online.target
  Wants=network-online.target
  [Service]
  User=psfleet
  EnvironmentFile=/etc/psfleet/worker-%i.env
  ExecStart=/usr/local/bin/psfleet worker --site %i
  KillSignal=SIGTERM
  TimeoutStopSec=300
  Restart=on-failure
  NoNewPrivileges=yes
  [Install]
  WantedBy=multi-user.target

\b
  /etc/psfleet/worker-paris.env (mode 0600):
  PSFLEET_BROKER=rediss://:PASSWORD@redis.example.org:6380/0?ssl_cert_reqs=required
  FLEET_PASSWORD=...    (what the inventory's password_env names)
"""


def worker(
    site: str = typer.Option(..., "--site", metavar="NAME", help="The site whose hosts this worker runs."),
    broker: str | None = typer.Option(
        None, "--broker", metavar="URL", help="redis://HOST:PORT/DB (no password here; see above)."
    ),
    concurrency: int = typer.Option(
        1, "--concurrency", min=1, max=64, help="Batches run at once (each with its own fan-out)."
    ),
    processes: int | None = typer.Option(
        None,
        "--processes",
        min=1,
        max=256,
        help="Worker processes per batch (1: threads only, for several workers sharing a machine); "
        "default: one per core for batches of 200 hosts or more.",
    ),
    source_address: str | None = typer.Option(
        None,
        "--source-address",
        metavar="IP",
        help="Connect to hosts from this local address (the interface the site's firewall allows); "
        "a host's own source_address setting wins.",
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv: Celery's log too."),
) -> None:
    setup_logging(verbose)
    from toolkit.config import load_config
    from toolkit.engine.app import check_site, make_app, queue_name, redact, resolve_broker

    check_site(site)
    url = resolve_broker(broker, config_value=load_config().get("broker", "worker"))
    try:
        import celery  # noqa: F401
    except ImportError:
        raise UsageError("the engine needs Celery: pip install 'psfleet[engine]'", field="worker") from None
    from toolkit.engine.tasks import register

    app = make_app(url)
    register(app)
    app.conf.psfleet_site = site
    app.conf.psfleet_processes = processes
    if source_address:
        import ipaddress

        try:
            app.conf.psfleet_source_address = str(ipaddress.ip_address(source_address))
        except ValueError:
            raise UsageError(f"{source_address!r} is not an IP address", field="--source-address") from None
    hostname = f"psfleet-{site}@{socket.gethostname()}.{os.getpid()}"
    say(
        f"psfleet worker: site {site}, queue {queue_name(site)}, broker {redact(url)}, concurrency {concurrency}"
    )
    loglevel = "INFO" if verbose >= 2 else "WARNING"
    runner = app.Worker(
        hostname=hostname,
        queues=[queue_name(site)],
        concurrency=concurrency,
        pool="threads",
        loglevel=loglevel,
        without_gossip=True,
        without_mingle=True,
        quiet=True,
        redirect_stdouts=False,
    )
    runner.start()
    raise typer.Exit(runner.exitcode or 0)


worker.__doc__ = WORKER_HELP
