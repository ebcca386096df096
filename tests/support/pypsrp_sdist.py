"""pypsrp's source distribution and the Windows Server exchanges it ships.

The pypsrp 0.9.1 sdist holds tests/tests_pypsrp/responses/*.yml (MIT licence): requests and
responses recorded against a real Windows Server. It is downloaded once into pytest's cache
(a temporary directory without the cache plugin); a test skips with the reason when it cannot
be downloaded (offline).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

VERSION = "0.9.1"
_RECORDING = re.compile(r"tests/tests_pypsrp/responses/(test_[\w.]+)\.yml$")


def sdist(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist's path, downloaded with pip on first use; skips the test when that fails."""
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    where = Path(cache.mkdir(f"pypsrp-{VERSION}-sdist")) if cache else tmp_path_factory.mktemp("pypsrp-sdist")
    try:
        if not list(where.glob("pypsrp-*.tar.gz")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    f"pypsrp=={VERSION}",
                    "-d",
                    str(where),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        pytest.skip(
            f"cannot download the pypsrp {VERSION} sdist with its recorded Windows traffic (offline?): {exc}"
        )
    (path,) = where.glob("pypsrp-*.tar.gz")
    return path


def recordings(path: Path, names: set[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Recording name -> its messages (``request``, ``response`` and pypsrp's test keys such as
    ``transport_error``), for every recording or only ``names``."""
    found: dict[str, list[dict[str, Any]]] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            m = _RECORDING.search(member.name)
            if not m or (names is not None and m.group(1) not in names):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            found[m.group(1)] = yaml.safe_load(handle.read())["messages"]
    return found
