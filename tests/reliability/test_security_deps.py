"""Dependency floors (issue 14): pyproject.toml must exclude the releases with advisories that
psfleet's use reaches, and the installed environment must satisfy those floors."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: package -> (last affected release, the advisory): the floor must be above it.
ADVISORIES: dict[str, list[tuple[str, str]]] = {
    "requests": [
        ("2.31.0", "CVE-2024-35195: verify=False sticks to a pooled connection"),
        ("2.32.3", "CVE-2024-47081: .netrc credentials leak for crafted URLs"),
        ("2.32.5", "CVE-2026-25645: extract_zipped_paths insecure temporary file"),
    ],
    "urllib3": [
        ("2.5.0", "CVE-2025-66418/66471: decompression chain and streaming bombs"),
        ("2.6.2", "CVE-2026-21441: decompression bomb on redirect bodies"),
        ("2.6.3", "CVE-2026-44431/44432: cross-origin headers, streaming bombs"),
    ],
    "cryptography": [
        ("42.0.3", "CVE-2024-26130: NULL dereference in PKCS12"),
        ("46.0.4", "CVE-2026-26007: subgroup attack on SECT curves"),
        ("46.0.6", "CVE-2026-39892: overflow on non-contiguous buffers"),
    ],
}


def requirements() -> dict[str, Requirement]:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    reqs = [Requirement(text) for text in data["project"]["dependencies"]]
    return {r.name.lower(): r for r in reqs}


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_floor_excludes_known_advisories(package: str) -> None:
    req = requirements().get(package)
    assert req is not None, f"{package} is not a direct dependency with a floor"
    for affected, advisory in ADVISORIES[package]:
        assert not req.specifier.contains(affected, prereleases=True), f"{req} allows {affected} ({advisory})"


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_installed_version_meets_the_floor(package: str) -> None:
    req = requirements()[package]
    assert req.specifier.contains(Version(version(package)), prereleases=True), (
        f"installed {package} {version(package)} does not satisfy {req}"
    )


def test_pyspnego_has_an_upper_bound_while_private_parts_are_used() -> None:
    compat = Path(__file__).resolve().parents[2] / "toolkit" / "compat"
    uses_private = any("spnego._" in p.read_text(encoding="utf-8") for p in compat.glob("*.py"))
    req = requirements()["pyspnego"]
    if uses_private:
        assert any(spec.operator in ("<", "<=", "~=", "==") for spec in req.specifier), str(req)
