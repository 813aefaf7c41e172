#!/usr/bin/env bash
# Install Dovecot's IMAP server for the test suite, which starts its own throwaway instance
# (tests/services.py). Does nothing when Dovecot is already installed, so `make services`
# stays fast. The packaged system service is never left running or enabled: the tests need
# only the binary, and a system IMAP server on ports 143/993 is not ours to start.
set -euo pipefail

# Another apt run (another engineer, unattended upgrades) may hold the lock for a while.
APT_LOCK_TIMEOUT_S=300

if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
    exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Dovecot is not installed, and this script installs it only as root with apt-get." >&2
    echo "The IMAP tests will skip here (and fail on CI). Install it with:" >&2
    echo "    sudo apt-get install --no-install-recommends dovecot-imapd" >&2
    exit 0
fi

echo "installing Dovecot for the IMAP tests (apt-get install dovecot-imapd)"
started=$(date +%s)

# Keep the package scripts from starting the system service: policy-rc.d exit 101 means
# "action forbidden" to invoke-rc.d and deb-systemd-invoke. Only add one if none exists.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Added by install-dovecot.sh for the duration of the install.\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt_get=(apt-get -qq -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT_S")
# A fresh machine's package lists may be missing or stale: refresh them once first.
"${apt_get[@]}" update </dev/null
"${apt_get[@]}" install -y --no-install-recommends dovecot-imapd </dev/null >/dev/null

# Where systemd runs, the package enabled the service for the next boot: undo that, and
# stop it in case a policy other than ours let it start.
if [ -d /run/systemd/system ]; then
    systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
elif [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    dovecot -c /etc/dovecot/dovecot.conf stop || true
fi

echo "Dovecot $(dovecot --version) installed in $(($(date +%s) - started)) s"
