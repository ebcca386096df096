#!/usr/bin/env bash
# Install what psfleet's tests need, from the project's own files:
#  - Debian packages for the real peers (Samba, MIT Kerberos KDC, nmap, Redis, PostgreSQL,
#    Chromium + chromedriver) when running as root with apt;
#  - the package itself with its [dev,engine] extras, and [kerberos] where the Kerberos headers exist;
#  - ansible-core in a virtual environment of its own (below).
# Tests that need a missing peer skip with the reason; nothing else is downloaded at test time
# except pypsrp's sdist for the golden-traffic comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(samba krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc libfaketime nmap redis-server postgresql chromium chromium-driver)

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
    # The Debian samba package starts its daemons; the tests run their own on loopback.
    for svc in smbd nmbd samba-ad-dc krb5-kdc krb5-admin-server redis-server postgresql; do
        (command -v service >/dev/null 2>&1 && service "$svc" stop >/dev/null 2>&1) || true
    done
else
    echo "install_deps: not root or no apt-get; Samba/Kerberos tests will skip" >&2
fi

extras="dev,engine"
if command -v krb5-config >/dev/null 2>&1; then
    extras="dev,engine,kerberos"
fi
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[${extras}]"

# ansible-core in its own virtual environment (never mixed with psfleet's dependencies), for
# the ansible inventory backend's tests and scripts/ansible_corpus.py. It is not put on PATH:
# tests find it at $ANSIBLE_VENV/bin (or $PSFLEET_ANSIBLE_BIN), so the rest of the suite keeps
# the built-in reader that `--inventory-backend auto` picks without ansible-inventory on PATH.
ANSIBLE_VENV=${ANSIBLE_VENV:-/opt/ansible-venv}
if [ ! -x "$ANSIBLE_VENV/bin/ansible-inventory" ]; then
    if ! { "$PYTHON" -m venv "$ANSIBLE_VENV" \
        && "$ANSIBLE_VENV/bin/python" -m pip install -q --disable-pip-version-check 'ansible-core>=2.16,<2.20'; }; then
        echo "install_deps: ansible-core not installed; ansible backend tests will skip" >&2
    fi
fi
