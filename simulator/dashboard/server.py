"""Start the dashboard's Solara server, offline, on the loopback interface by default.

The server process *becomes* Solara (``exec``), so the process id the user (or a
test) holds is the server's: Ctrl-C or SIGTERM stops everything that was started,
and nothing lingers. Settings that keep everything on the machine:

* the front-end files (Vue, Vuetify, requirejs, fonts) come from the
  ``solara-assets`` package, installed into ``<venv>/share/solara/cdn``, which is
  Solara's asset cache; the CDN Solara would fetch a missing file from is set to
  a closed loopback port, so a missing file is an error, never a download;
* ``SOLARA_TELEMETRY_MIXPANEL_ENABLE=false`` (no telemetry), ``--no-check-version``
  (no version check) and ``--production`` (no "did it load" pings to solara.dev);
* closed browser tabs free their session (kernel) after ``CULL_TIMEOUT``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
CULL_TIMEOUT = "3m"  # a classroom of 30 that closes its tabs frees its memory in minutes
# Port 9 (discard) on the loopback: nothing listens there, so a fetch fails at once.
NO_CDN = "http://127.0.0.1:9/"


def server_command(scenario: Path, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of the Solara server for ``scenario``.

    Args:
        scenario: The scenario file the page starts from.
        host: Interface to listen on.
        port: TCP port.

    Returns:
        ``argv`` (starting with this Python) and the full environment.
    """
    env = dict(os.environ)
    env.update(
        {
            "SECSIM_DASHBOARD_SCENARIO": str(scenario.resolve()),
            "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
            "SOLARA_ASSETS_PROXY": "true",
            "SOLARA_ASSETS_CDN": NO_CDN,
            "SOLARA_KERNEL_CULL_TIMEOUT": CULL_TIMEOUT,
            "MPLBACKEND": "Agg",
        }
    )
    argv = [
        sys.executable,
        "-m",
        "solara",
        "run",
        "simulator.dashboard.app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-open",
        "--no-check-version",
        "--production",
    ]
    return argv, env


def missing_packages() -> list[str]:
    """The dashboard's packages that are not installed (the ``dashboard`` extra)."""
    import importlib.util

    wanted = ("solara", "solara_assets", "mesa.visualization", "matplotlib")
    return [name for name in wanted if importlib.util.find_spec(name.split(".")[0]) is None]


def port_refused(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (taken, or not this machine's), or None.

    Asked before the server starts, so that the user reads why at once rather
    than after the address was announced. (Another program may still take the
    port in between: the server then says so itself.)
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host} is not an address of this machine ({exc.strerror or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def serve(scenario: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Replace this process by the dashboard's server (returns only on failure)."""
    argv, env = server_command(scenario, host, port)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
