"""``psfleet lab serve`` and ``psfleet demo``: the emulated fleet as a product feature."""

from __future__ import annotations

import ipaddress
import signal
import threading
from pathlib import Path

import typer

from toolkit.cli.common import say, setup_logging
from toolkit.cli.options import TRANSPORT_HELP
from toolkit.errors import UsageError
from toolkit.lab.fleet import DEFAULT_BASE_ADDRESS, Fleet, LabAddressInUse
from toolkit.lab.spec import load_spec, spec_from_args
from toolkit.report.words import counted

app = typer.Typer(
    help="The lab: an emulated Windows fleet speaking real WinRM on loopback.", no_args_is_help=True
)


@app.callback()
def lab() -> None:
    """The lab: an emulated Windows fleet speaking real WinRM on loopback."""
    # A callback keeps ``lab`` a group (``psfleet lab serve``) even where it is loaded on its
    # own: Typer turns an app with one command and no callback into that command.


@app.command("serve")
def serve(
    hosts: int = typer.Option(10, "--hosts", min=1, help="Number of hosts (ignored with --spec)."),
    profile: str = typer.Option("mixed", "--profile", help="OS profile of every host, or 'mixed'."),
    spec: Path | None = typer.Option(None, "--spec", help="Lab spec YAML (users, defaults, hosts, faults)."),
    addressing: str = typer.Option(
        "ip",
        "--addressing",
        help="'ip': one 127.x address per host on port 5985/5986; 'port': 127.0.0.1 with one port per host.",
    ),
    base_address: str | None = typer.Option(
        None,
        "--base-address",
        help="First loopback address (ip mode). Default 127.10.0.1, or the next free 127.N.0.1 block "
        "when another lab holds it.",
    ),
    base_port: int | None = typer.Option(
        None,
        "--base-port",
        help="Port (ip mode) or first port (port mode). Default 5985/5986 (ip) or ports the system picks.",
    ),
    latency_ms: int = typer.Option(0, "--latency-ms", min=0, help="Added to every HTTP response (ms)."),
    pool_open_ms: int = typer.Option(
        0, "--pool-open-ms", min=0, help="Delay when a runspace pool opens (ms)."
    ),
    workers: int = typer.Option(0, "--workers", min=0, max=64, help="Worker processes (0: this process)."),
    state: Path | None = typer.Option(
        None, "--state", help="Keep each host's registry here across restarts."
    ),
    inventory_out: Path | None = typer.Option(None, "--inventory-out", help="Write a psfleet inventory."),
    fleet_json: Path | None = typer.Option(
        None, "--fleet-json", help="Write the fleet as JSON (with passwords)."
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv (wire)."),
) -> None:
    """Serve a lab fleet until Ctrl-C or SIGTERM."""
    setup_logging(verbose)
    if addressing not in ("ip", "port"):
        raise UsageError("must be 'ip' or 'port'", field="--addressing")
    _check_loopback(base_address)
    if spec is not None:
        lab_spec = load_spec(spec)
    else:
        lab_spec = spec_from_args(hosts, profile, latency_ms=latency_ms, pool_open_ms=pool_open_ms)
    if spec is not None and (latency_ms or pool_open_ms):
        from dataclasses import replace

        lab_spec = replace(
            lab_spec,
            hosts=tuple(
                replace(h, latency_ms=latency_ms or h.latency_ms, pool_open_ms=pool_open_ms or h.pool_open_ms)
                for h in lab_spec.hosts
            ),
        )
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(
        lab_spec,
        addressing="ip" if addressing == "ip" else "port",
        base_address=base_address or DEFAULT_BASE_ADDRESS,
        base_port=base_port,
        workers=workers,
        state_dir=state,
        # A second lab on this machine (another user, a parallel test run) moves on to free
        # addresses or ports; one the user asked for is used as given or fails.
        find_free=base_address is None and base_port is None,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        fleet.start()
    except LabAddressInUse as exc:
        option = "--base-address" if base_address is not None else "--base-port"
        hint = "pick a free block" if addressing == "ip" else "let the system pick free ports"
        raise UsageError(
            f"{exc.address}:{exc.port} is in use; omit {option} to {hint}", field=option
        ) from None
    try:
        if inventory_out is not None:
            fleet.write_inventory(inventory_out)
            say(f"inventory: {inventory_out}")
        if fleet_json is not None:
            fleet.write_fleet_json(fleet_json)
            say(f"fleet json: {fleet_json} (mode 0600: it holds the lab passwords)")
        first = fleet.hosts[0]
        if base_address is None and addressing == "ip" and first.address != DEFAULT_BASE_ADDRESS:
            say(f"lab: {DEFAULT_BASE_ADDRESS} is taken (another lab?); serving from {first.address} instead")
        say(
            f"lab: {counted(len(fleet.hosts), 'host')} on loopback (first: {first.name} {first.scheme}://{first.address}:{first.port}"
            f"/wsman); users: {', '.join(u.name for u in lab_spec.users)}. Ctrl-C to stop."
        )
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
    say("lab stopped")


def _check_loopback(address: str | None) -> None:
    """The lab listens on loopback only: any other address is a usage error (exit 2)."""
    if address is None:
        return
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        raise UsageError(f"{address!r} is not an IPv4 address", field="--base-address") from None
    if not parsed.is_loopback:
        raise UsageError(
            f"{address} is not a loopback address; the lab listens on 127.0.0.0/8 only",
            field="--base-address",
        )


def demo(
    transport: str | None = typer.Option(
        None, "--transport", envvar="PSFLEET_TRANSPORT", help=TRANSPORT_HELP
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv (wire)."),
) -> None:
    """Start an embedded mixed lab, audit it and explain the table. Exits 0."""
    from toolkit.cli.demo import run_demo

    setup_logging(verbose)
    run_demo(transport=transport)
