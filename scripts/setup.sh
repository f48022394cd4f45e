#!/usr/bin/env bash
# Installs what ledgerlink needs on Debian 12 (beyond Swift 6.3 itself), only what is missing.
set -euo pipefail

# postgresql: the store's tests start a private server from its binaries, and pgbouncer in
# front of it (a pooler in transaction mode, which loses prepared statements); hledger reads the
# journal `export --format hledger` writes, in a test; gdb lets a test that finds a command
# hung print that command's threads before ending it.
packages=(libsodium-dev libncurses-dev libsqlite3-dev pkg-config tmux postgresql pgbouncer hledger gdb)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PyNaCl runs the independent protocol verifier in the tests (Tests/interop); pycrdt is the
# comparison in `ledgerlink-bench peer`.
for module in nacl:pynacl pycrdt:pycrdt; do
    if ! python3 -c "import ${module%%:*}" 2>/dev/null; then
        echo "setup: installing ${module##*:}" >&2
        python3 -m pip install --quiet --disable-pip-version-check "${module##*:}"
    fi
done

# The manual page (Resources/ledgerlink.1, made from the command definitions by
# `bash scripts/manual.sh`), where man finds it for this user.
manual="${XDG_DATA_HOME:-$HOME/.local/share}/man/man1"
page="$(dirname "$0")/../Resources/ledgerlink.1"
if [ -f "$page" ] && ! cmp -s "$page" "$manual/ledgerlink.1" 2>/dev/null; then
    mkdir -p "$manual"
    cp "$page" "$manual/ledgerlink.1"
    echo "setup: installed the manual page in $manual (man ledgerlink)" >&2
fi
