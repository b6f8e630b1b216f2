#!/usr/bin/env bash
# The README's Quick start: installs what gwdir needs, builds it, starts the embedded local slapd
# under ./.gwdir (relative to the repository root) and runs the main job against it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh runtime
swift build -c release --product gwdir
gwdir="$PWD/.build/release/gwdir"

echo "== gwdir local start"
"$gwdir" local start
echo "== gwdir init"
"$gwdir" init
admin_password_file=.gwdir/secrets/first-admin.password
if [ ! -s "$admin_password_file" ]; then
  umask 077
  head -c 18 /dev/urandom | base64 > "$admin_password_file"
fi
echo "== gwdir init --admin admin@example.com (password in $admin_password_file)"
"$gwdir" init --admin admin@example.com --admin-password-file "$admin_password_file"
echo "== gwdir whoami"
"$gwdir" whoami
echo "== gwdir local status"
"$gwdir" local status
echo
echo "The directory keeps running: $gwdir local stop   (data stays in ./.gwdir)"
