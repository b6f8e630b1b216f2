#!/usr/bin/env bash
# Builds docker/slapd with podman and runs two containers of it as replicating providers on
# 127.0.0.1 ports (--network host), then checks: the gwdir schema is loaded, the base tree was
# seeded on node 1 and replicated to node 2, writes on either node reach the other (main and
# audit databases), service passwords work on both, and a stopped node catches up after a
# restart on its persisted volume. Removes its containers, volumes and the slapd image on exit
# (success or failure); keeps the base image docker.io/library/debian:bookworm-slim as a cache.
#
# Needs (Debian 12, root): apt-get install -y podman runc debootstrap
# There is no registry here: the base image is made with debootstrap (once, ~25-60 s) and
# imported under the name the Dockerfile uses (scripts/podman-common.sh). See ../../shared/CONTAINERS.md.
set -euo pipefail

started=$SECONDS
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=localhost/gwdir-slapd-smoke:$$
C1=gwdir-smoke-slapd1-$$
C2=gwdir-smoke-slapd2-$$
BASE_DN=dc=example,dc=com
ROOT_DN=cn=manager,$BASE_DN
WORK=$(mktemp -d /tmp/gwdir-podman-smoke.XXXXXX)

log() { printf '[podman-smoke %3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
    status=$?
    if [ $status -ne 0 ]; then
        for c in "$C1" "$C2"; do
            podman container exists "$c" 2>/dev/null && { log "--- logs of $c"; podman logs --tail 40 "$c" 2>&1 || true; }
        done
    fi
    podman rm -f -v "$C1" "$C2" >/dev/null 2>&1 || true
    podman rmi -f "$TAG" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    [ $status -eq 0 ] && log "PASS in $((SECONDS - started)) s" || log "FAILED after $((SECONDS - started)) s"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/podman-common.sh
. "$ROOT/scripts/podman-common.sh"
podman_setup "$WORK"

log "building docker/slapd as $TAG"
podman build --network host --ignorefile "$ROOT/docker/slapd/Dockerfile.dockerignore" \
    -t "$TAG" -f "$ROOT/docker/slapd/Dockerfile" "$ROOT" >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log"; fail "podman build"; }

# Two free 127.0.0.1 ports (nothing answers there).
P1=$(free_port)
P2=$(free_port "$P1")
ROOT_PW=$(set +o pipefail; tr -dc 'A-Za-z0-9' </dev/urandom | head -c 20)

run_node() { # name server-id port peer-port
    podman run -d --name "$1" --network host \
        -e SLAPD_LISTEN_ADDR=127.0.0.1 -e SLAPD_PORT="$3" -e SLAPD_LOG_LEVEL=stats \
        -e GWDIR_BASE_DN="$BASE_DN" -e GWDIR_ROOT_PW="$ROOT_PW" \
        -e GWDIR_SERVER_ID="$2" -e GWDIR_PEER_URI="ldap://127.0.0.1:$4" \
        "$TAG" >/dev/null
}
log "starting $C1 on 127.0.0.1:$P1 and $C2 on 127.0.0.1:$P2"
run_node "$C1" 1 "$P1" "$P2"
run_node "$C2" 2 "$P2" "$P1"

# LDAP tools run inside the containers (ldap-utils is in the image); --network host makes
# 127.0.0.1:<port> the same address everywhere.
ldap() { # container tool args...
    local c=$1; shift
    podman exec -i "$c" "$@"
}
as_root() { # container port tool args...
    local c=$1 port=$2 tool=$3; shift 3
    ldap "$c" "$tool" -x -H "ldap://127.0.0.1:$port" -D "$ROOT_DN" -w "$ROOT_PW" "$@"
}
# Containers that must be running; a wait fails at once when one of them has exited.
RUNNING="$C1 $C2"
# wait_for DESCRIPTION SECONDS COMMAND...: retries until COMMAND succeeds.
wait_for() {
    local what=$1 limit=$2 c; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "$what (not within ${limit} s)"
        for c in $RUNNING; do
            [ "$(podman inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || fail "$what: container $c exited"
        done
        sleep 0.3
    done
    log "ok: $what"
}
# grep -q for pipes: it drains the rest of its input, so the writer never dies of SIGPIPE
# (exit 141), which `set -o pipefail` would count as a failed check.
grep_q() {
    local rc=1
    grep -q "$@" && rc=0
    cat >/dev/null
    return $rc
}
has_entry() { # container port dn [filter]
    as_root "$1" "$2" ldapsearch -LLL -s base -b "$3" "${4:-(objectClass=*)}" 1.1 | grep_q '^dn:'
}

wait_for "node 1 answers a root bind" 60 as_root "$C1" "$P1" ldapwhoami
wait_for "node 2 answers a root bind" 60 as_root "$C2" "$P2" ldapwhoami

# The gwdir schema is in cn=config (read over ldapi as the container's root, SASL EXTERNAL).
schema=$(ldap "$C1" ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=schema,cn=config '(cn=*gwdir)' dn)
echo "$schema" | grep_q '^dn: cn={[0-9]*}gwdir,cn=schema,cn=config' || fail "gwdir schema not in cn=config: $schema"
log "ok: gwdir schema loaded ($(echo "$schema" | sed 's/^dn: //'))"
ldap "$C2" ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b 'olcDatabase={2}mdb,cn=config' -s base olcSyncrepl |
    grep_q "provider=ldap://127.0.0.1:$P1" || fail "node 2 has no syncrepl towards node 1"
log "ok: node 2's syncrepl points at node 1"

# Node 1 seeded base.ldif; node 2 got it by replication (both databases).
wait_for "seeded tree replicated to node 2 (ou=workspaces)" 30 has_entry "$C2" "$P2" "ou=workspaces,$BASE_DN"
wait_for "audit database replicated to node 2 (ou=events,ou=audit)" 30 has_entry "$C2" "$P2" "ou=events,ou=audit,$BASE_DN"

# Service passwords generated on node 1 (kept in its volume) bind on node 2 too.
DOVECOT_PW=$(podman exec "$C1" cat /var/lib/gwdir/secrets/dovecot.pw)
wait_for "cn=dovecot binds on node 2 with node 1's generated password" 30 \
    ldap "$C2" ldapwhoami -x -H "ldap://127.0.0.1:$P2" -D "cn=dovecot,ou=system,$BASE_DN" -w "$DOVECOT_PW"

# A gwAccount written on node 1 (schema check: gwAccount + its attributes) appears on node 2.
ACCOUNT="uid=smoke,o=smoke,ou=workspaces,$BASE_DN"
as_root "$C1" "$P1" ldapadd >/dev/null <<EOF
dn: o=smoke,ou=workspaces,$BASE_DN
objectClass: gwWorkspace
o: smoke
gwMailDomain: smoke.example

dn: $ACCOUNT
objectClass: inetOrgPerson
objectClass: gwAccount
uid: smoke
cn: Smoke Test
sn: Test
givenName: Smoke
mail: smoke@smoke.example
gwAccountStatus: active
gwEnabledService: imap
EOF
log "ok: gwWorkspace + gwAccount added on node 1"
wait_for "account replicated to node 2" 15 has_entry "$C2" "$P2" "$ACCOUNT" "(mail=smoke@smoke.example)"

# A modify on node 2 appears on node 1; an audit event on node 2 appears on node 1.
as_root "$C2" "$P2" ldapmodify >/dev/null <<EOF
dn: $ACCOUNT
changetype: modify
replace: gwAccountStatus
gwAccountStatus: suspended
EOF
as_root "$C2" "$P2" ldapadd >/dev/null <<EOF
dn: gwEventId=smoke-1,ou=events,ou=audit,$BASE_DN
objectClass: gwLoginEvent
gwEventId: smoke-1
gwLoginName: smoke@smoke.example
gwLoginType: imap
gwLoginResult: success
gwEventCount: 1
EOF
log "ok: modify + audit event written on node 2"
wait_for "modify replicated to node 1" 15 has_entry "$C1" "$P1" "$ACCOUNT" "(gwAccountStatus=suspended)"
wait_for "audit event replicated to node 1" 15 has_entry "$C1" "$P1" "gwEventId=smoke-1,ou=events,ou=audit,$BASE_DN"

# Stop node 1, write on node 2, start node 1 again on its volume: it catches up (no re-seed).
RUNNING=$C2
podman stop -t 10 "$C1" >/dev/null
log "node 1 stopped"
as_root "$C2" "$P2" ldapmodify >/dev/null <<EOF
dn: $ACCOUNT
changetype: modify
replace: gwAccountStatus
gwAccountStatus: active
-
replace: sn
sn: WhileDown
EOF
podman start "$C1" >/dev/null
RUNNING="$C1 $C2"
wait_for "node 1 back on its volume" 60 as_root "$C1" "$P1" ldapwhoami
wait_for "node 1 caught up with the write made while it was down" 30 has_entry "$C1" "$P1" "$ACCOUNT" "(&(sn=WhileDown)(gwAccountStatus=active))"
podman logs "$C1" 2>&1 | grep -c 'loading base.ldif' | grep -qx 1 || fail "node 1 seeded again after the restart"
log "ok: restart reused the volume (base.ldif loaded once)"
