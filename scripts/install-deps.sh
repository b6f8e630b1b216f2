#!/usr/bin/env bash
# Installs the Debian packages gwdir builds, runs and tests with. Idempotent: only missing
# packages are installed, and `apt-get update` runs only when something is missing.
# Usage: scripts/install-deps.sh [runtime|test]   (default: test, which is a superset)
set -euo pipefail
profile="${1:-test}"

runtime=(slapd ldap-utils libldap2-dev libsasl2-dev libsasl2-modules sasl2-bin openssl libmaxminddb-dev)
test_only=(
  python3-ldap                                   # the benchmark's python-ldap baseline
  postfix postfix-ldap                           # Postfix lookups (postmap -q) against slapd
  dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-ldap   # doveadm auth test, real IMAP/LMTP
  dovecot-sieve                                  # the global Sieve script that files alias mail (docker/dovecot)
  podman runc debootstrap                        # the docker/ images, built and run for real
  podman-compose golang-github-containernetworking-plugin-dnsname   # docker/compose.yaml run for real (service names via CNI dnsname)
)
packages=("${runtime[@]}")
[ "$profile" = test ] && packages+=("${test_only[@]}")

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure itself; the tests and docker/ bring their own configuration.
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
# Packaged daemons must not start on their default ports: gwdir starts its own on loopback.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  remove_policy=1
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "${remove_policy:-0}" = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d
echo "install-deps: done"
