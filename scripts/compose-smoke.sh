#!/usr/bin/env bash
# Runs docker/compose.yaml for real under podman-compose and proves the mail path end to end:
# slapd1 + slapd2 (replicating), gwdir serve, Dovecot and Postfix in containers on the compose
# network. It provisions a workspace and an account with the gwdir CLI (as cn=gwdir, the password
# from the gwdir-secrets volume) against slapd1's published port, logs in over IMAP (python3
# imaplib) once with the right and once with a wrong password, checks that `gwdir audit list`
# shows both events (type imap; success, and failure with reason wrong_password: Dovecot -> auth
# policy -> gwdir serve -> audit), sends a mail through Postfix's SMTP port and reads it back
# over IMAP (Postfix -> LMTP -> Dovecot), and checks the audit event replicated to slapd2.
#
# No registry here: the gwdir image is docker/gwdir/Dockerfile.prebuilt around a host-built binary
# (GWDIR_BIN, default .build/debug/gwdir; its resource bundles and the Swift runtime libraries
# it links are copied next to it), built as localhost/gwdir:<tag> before compose starts. The other
# images (slapd, dovecot, postfix) are built by podman-compose from compose.yaml's build sections.
# Everything gets a per-run project name, image tag and free 127.0.0.1 ports (GWDIR_*_PORT), the
# secrets (GWDIR_ROOT_PW, GWDIR_POLICY_KEY) are random and live only in this process's
# environment (no docker/.env is written). On exit, success or failure: podman-compose down -v,
# the network and the images it built are removed (the debian base image stays, as a cache), and
# container logs are printed on failure.
#
# Needs (Debian 12, root): apt-get install -y podman runc debootstrap podman-compose \
#     golang-github-containernetworking-plugin-dnsname python3     (scripts/install-deps.sh test)
# and a built gwdir (swift build). See ../../shared/CONTAINERS.md and docker/README.md.
set -euo pipefail

started=$SECONDS
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPOSE_FILE=$ROOT/docker/compose.yaml
PROJECT=gwdirsmoke$$
BASE_DN=dc=example,dc=com
WORK=$(mktemp -d /tmp/gwdir-compose-smoke.XXXXXX)
SERVICES="slapd1 slapd2 gwdir dovecot postfix"

log() { printf '[compose-smoke %3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { log "FAIL: $*"; exit 1; }

compose() { podman-compose --no-ansi -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }
container() { echo "${PROJECT}_$1_1"; }

cleanup() {
    status=$?
    set +e
    if [ $status -ne 0 ]; then
        for service in $SERVICES; do
            podman container exists "$(container "$service")" 2>/dev/null || continue
            log "--- logs of $service ($(podman inspect -f '{{.State.Status}} exit {{.State.ExitCode}}' "$(container "$service")" 2>/dev/null))"
            podman logs --tail 50 "$(container "$service")" 2>&1
        done
    fi
    if [ -n "${GWDIR_IMAGE_TAG:-}" ]; then
        # One podman stop for all (in parallel); podman-compose down stops them one by one.
        podman ps -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman stop -t 10 >/dev/null 2>&1
        compose down -v >"$WORK/down.log" 2>&1
        # What down leaves: containers of a failed up, the network, the volumes of a failed down.
        podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman rm -f -v >/dev/null 2>&1
        podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null 2>&1
        podman network rm -f "${PROJECT}_gwdir" >/dev/null 2>&1
        for image in gwdir-slapd gwdir-dovecot gwdir-postfix gwdir; do
            podman rmi -f "localhost/$image:$GWDIR_IMAGE_TAG" >/dev/null 2>&1
        done
    fi
    rm -rf "$WORK"
    [ $status -eq 0 ] && log "PASS in $((SECONDS - started)) s" || log "FAIL after $((SECONDS - started)) s"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/podman-common.sh
. "$ROOT/scripts/podman-common.sh"
for tool in podman-compose python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install -y podman-compose golang-github-containernetworking-plugin-dnsname python3"
done
# Service names (slapd1, gwdir, dovecot) resolve on the compose network through CNI's dnsname.
[ -x /usr/lib/cni/dnsname ] || [ -x /usr/libexec/cni/dnsname ] ||
    fail "the dnsname CNI plugin is missing: apt-get install -y golang-github-containernetworking-plugin-dnsname"
# podman-compose 1.0.3 lets docker/.env override the environment: the run would not be ours.
[ ! -e "$ROOT/docker/.env" ] || fail "docker/.env exists; move it away while this runs (podman-compose 1.0.3 prefers it to the environment)"

GWDIR_BIN=${GWDIR_BIN:-$ROOT/.build/debug/gwdir}
[ -x "$GWDIR_BIN" ] || fail "no gwdir binary at $GWDIR_BIN: swift build first, or set GWDIR_BIN"

podman_setup "$WORK"

# Per-run names, ports and secrets, handed to compose.yaml through the environment.
random_hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }
export GWDIR_IMAGE_TAG=smoke-$$
export GWDIR_ROOT_PW GWDIR_POLICY_KEY
GWDIR_ROOT_PW=$(random_hex 16)
GWDIR_POLICY_KEY=$(random_hex 32)
ports=()
for name in SLAPD1 SLAPD2 IMAP POP3 SMTP SERVE; do
    port=$(free_port "${ports[@]}")
    ports+=("$port")
    export "GWDIR_${name}_PORT=$port"
done
log "project $PROJECT, tag $GWDIR_IMAGE_TAG; 127.0.0.1 ports: slapd1 $GWDIR_SLAPD1_PORT, slapd2 $GWDIR_SLAPD2_PORT, imap $GWDIR_IMAP_PORT, pop3 $GWDIR_POP3_PORT, smtp $GWDIR_SMTP_PORT, gwdir serve $GWDIR_SERVE_PORT"

# The gwdir image from the host binary: a snapshot of it, its resource bundles and the Swift
# runtime libraries it links, staged for docker/gwdir/Dockerfile.prebuilt. The same snapshot is the
# CLI this script runs (the build tree may be rebuilt meanwhile).
stage=$WORK/gwdir-image
mkdir -p "$stage/bin" "$stage/swift-libs"
cp "$GWDIR_BIN" "$stage/bin/gwdir"
for bundle in "$(dirname "$GWDIR_BIN")"/gwdir_*.resources; do
    [ -d "$bundle" ] && cp -R "$bundle" "$stage/bin/"
done
ldd "$stage/bin/gwdir" | awk '$2 == "=>" && $3 ~ /\/lib\/swift\/linux\// {print $3}' | while read -r lib; do
    cp -L "$lib" "$stage/swift-libs/"
done
[ -n "$(ls "$stage/swift-libs")" ] || fail "no Swift runtime library found in ldd $GWDIR_BIN"
[ -z "$(ldd "$stage/bin/gwdir" | grep 'not found')" ] || fail "ldd $GWDIR_BIN: $(ldd "$stage/bin/gwdir" | grep 'not found')"
GWDIR=$stage/bin/gwdir
log "building localhost/gwdir:$GWDIR_IMAGE_TAG (docker/gwdir/Dockerfile.prebuilt, $(du -sh "$stage" | cut -f1) staged from $GWDIR_BIN)"
podman build --network host -t "localhost/gwdir:$GWDIR_IMAGE_TAG" -f "$ROOT/docker/gwdir/Dockerfile.prebuilt" "$stage" \
    >"$WORK/build-gwdir.log" 2>&1 || { tail -30 "$WORK/build-gwdir.log"; fail "podman build (gwdir)"; }

# slapd (slapd1's build; slapd2 shares the image), dovecot, postfix: compose.yaml's own build
# sections. podman-compose 1.0.3 does not stop on a failed build, so the images are checked.
log "podman-compose build slapd1 dovecot postfix"
compose --podman-build-args='--network host' build slapd1 dovecot postfix >"$WORK/build.log" 2>&1 || true
for image in gwdir-slapd gwdir-dovecot gwdir-postfix; do
    podman image exists "localhost/$image:$GWDIR_IMAGE_TAG" || { tail -40 "$WORK/build.log"; fail "podman-compose build did not make localhost/$image:$GWDIR_IMAGE_TAG"; }
done
log "ok: images built ($((SECONDS - started)) s so far)"

log "podman-compose up -d --no-build"
compose up -d --no-build >"$WORK/up.log" 2>&1 || { tail -40 "$WORK/up.log"; fail "podman-compose up"; }
running() { [ "$(podman inspect -f '{{.State.Running}}' "$(container "$1")" 2>/dev/null)" = true ]; }
for service in $SERVICES; do
    running "$service" || { tail -40 "$WORK/up.log"; fail "service $service is not running after up"; }
done
log "ok: $SERVICES running (network ${PROJECT}_gwdir)"
# Every published port is on 127.0.0.1, never another address.
for service in $SERVICES; do
    podman port "$(container "$service")" >"$WORK/ports" 2>&1 || true
    if grep -v -- '-> 127\.0\.0\.1:' "$WORK/ports" | grep -q .; then cat "$WORK/ports"; fail "$service publishes a port on another address than 127.0.0.1"; fi
done
log "ok: published ports are on 127.0.0.1 only ($(podman port "$(container dovecot)" | tr '\n' ' '))"

# wait_for DESCRIPTION SECONDS COMMAND...: retries until COMMAND succeeds; fails at once when a
# service has stopped (restart: unless-stopped brings it back, but a crash loop is a failure).
wait_for() {
    local what=$1 limit=$2 service; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >"$WORK/last-try.log" 2>&1; do
        if [ $SECONDS -ge $deadline ]; then cat "$WORK/last-try.log"; fail "$what (not within ${limit} s)"; fi
        for service in $SERVICES; do
            running "$service" || fail "$what: service $service is not running"
        done
        sleep 1
    done
    log "ok: $what"
}

health() {
    python3 - "$GWDIR_SERVE_PORT" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=5) as r:
    body = r.read().decode()
    print(r.status, body)
    sys.exit(0 if r.status == 200 else 1)
EOF
}
wait_for "gwdir serve: GET /health is 200 (it reaches slapd1 by name)" 120 health

# The operator's CLI against slapd1's published port, as cn=gwdir with the password slapd1 wrote
# into the gwdir-secrets volume.
(umask 077; podman exec "$(container slapd1)" cat /run/gwdir-secrets/gwdir.pw >"$WORK/gwdir.pw")
export GWDIR_URI=ldap://127.0.0.1:$GWDIR_SLAPD1_PORT GWDIR_BASE=$BASE_DN
export GWDIR_BIND_DN=cn=gwdir,ou=system,$BASE_DN GWDIR_PASSWORD_FILE=$WORK/gwdir.pw
run() { "$GWDIR" "$@" >"$WORK/cli.log" 2>&1 || { cat "$WORK/cli.log"; fail "gwdir $*"; }; }
run whoami
log "ok: gwdir whoami: $(cat "$WORK/cli.log")"
ADDRESS=alice@smoke.example
(umask 077; random_hex 12 >"$WORK/alice.pw")
run workspace add smoke --name "Compose Smoke" --domain smoke.example
run unit add staff --workspace smoke
run user add alice --workspace smoke --unit staff --first-name Alice --last-name Smoke \
    --mail "$ADDRESS" --password-file "$WORK/alice.pw" --service mail
log "ok: workspace smoke, unit staff, account $ADDRESS added with the gwdir CLI"

# IMAP through the dovecot container: the right password, then a wrong one.
imap() { # imap-login right|wrong|fetch
    python3 - "$GWDIR_IMAP_PORT" "$ADDRESS" "$WORK/alice.pw" "$1" <<'EOF'
import imaplib, sys
port, user, pwfile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
password = open(pwfile).read().strip()
imap = imaplib.IMAP4("127.0.0.1", port, timeout=20)
if mode == "wrong":
    try:
        imap.login(user, password + "-wrong")
    except imaplib.IMAP4.error as error:
        print("refused:", error)
        sys.exit(0)
    print("a wrong password logged in")
    sys.exit(1)
imap.login(user, password)
typ, data = imap.select("INBOX")
count = int(data[0])
if mode == "fetch":
    found = False
    for num in imap.search(None, "ALL")[1][0].split():
        message = imap.fetch(num, "(RFC822)")[1][0][1].decode(errors="replace")
        if "X-Gwdir-Smoke: compose" in message:
            found = True
    print("messages:", count, "smoke mail:", found)
    imap.logout()
    sys.exit(0 if found else 1)
print("logged in; INBOX has", count, "messages")
imap.logout()
EOF
}
imap_greeting() {
    python3 -c "import imaplib,sys; i=imaplib.IMAP4('127.0.0.1', int(sys.argv[1]), timeout=5); print(i.welcome); i.logout()" "$GWDIR_IMAP_PORT"
}
wait_for "dovecot answers IMAP on 127.0.0.1:$GWDIR_IMAP_PORT" 90 imap_greeting
# The first login can race Dovecot's first LDAP connection; later ones must work at once.
wait_for "IMAP login as $ADDRESS with its password" 30 imap right
imap wrong >"$WORK/imap-wrong.log" 2>&1 || { cat "$WORK/imap-wrong.log"; fail "IMAP login with a wrong password"; }
log "ok: IMAP login with a wrong password refused ($(cat "$WORK/imap-wrong.log"))"

# The audit, read back with the CLI from slapd1: both logins, type imap, the right result/reason.
audit_has() { # directory-uri: success and wrong_password failure events of type imap
    GWDIR_URI=$1 "$GWDIR" audit list --account "$ADDRESS" --type imap --format json >"$WORK/audit.json" 2>&1 || return 1
    python3 - "$WORK/audit.json" <<'EOF'
import json, sys
events = json.load(open(sys.argv[1]))
ok = any(e["type"] == "imap" and e["result"] == "success" for e in events)
bad = any(e["type"] == "imap" and e["result"] == "failure" and e["reason"] == "wrong_password" for e in events)
for e in events:
    print(f'  {e["lastTime"]} type={e["type"]} result={e["result"]} reason={e["reason"]} ip={e["ip"]} count={e["count"]} login={e["login"]}')
sys.exit(0 if ok and bad else 1)
EOF
}
wait_for "gwdir audit list (slapd1): imap success + imap failure wrong_password for $ADDRESS" 30 audit_has "$GWDIR_URI"
sed 's/^/    /' "$WORK/last-try.log"
wait_for "the same events replicated to slapd2" 30 audit_has "ldap://127.0.0.1:$GWDIR_SLAPD2_PORT"

# A mail through Postfix (port 25 -> virtual mailbox lookup in LDAP -> LMTP to dovecot), read back.
send_mail() {
    python3 - "$GWDIR_SMTP_PORT" "$ADDRESS" <<'EOF'
import smtplib, sys
from email.message import EmailMessage
message = EmailMessage()
message["From"] = "sender@outside.example"
message["To"] = sys.argv[2]
message["Subject"] = "compose smoke"
message["X-Gwdir-Smoke"] = "compose"
message.set_content("through postfix and dovecot in containers\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as smtp:
    print(smtp.send_message(message) or "accepted")
EOF
}
wait_for "postfix accepts a mail to $ADDRESS on 127.0.0.1:$GWDIR_SMTP_PORT" 60 send_mail
wait_for "the mail arrived in $ADDRESS's INBOX (IMAP)" 60 imap fetch
