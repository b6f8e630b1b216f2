#!/bin/sh
# gwdir slapd container entrypoint: renders the repository's schema/slapd templates (the very
# files the Swift test harness renders), creates the configuration and the base tree on first
# start (persisted under $GWDIR_STATE_DIR, a volume), then runs slapd in the foreground.
# Environment (defaults in brackets; docker/README.md has the full table):
#   GWDIR_BASE_DN [dc=example,dc=com]   GWDIR_ROOT_DN [cn=manager,<base>]
#   GWDIR_ROOT_PW / GWDIR_ROOT_PW_FILE  [generated once, kept in $GWDIR_STATE_DIR/secrets/root.pw]
#   GWDIR_SECRETS_DIR [$GWDIR_STATE_DIR/secrets]  where the service passwords are written
#   GWDIR_GWDIR_PW, GWDIR_DOVECOT_PW, GWDIR_POSTFIX_PW (or *_FILE) [generated once, same place]
#   SLAPD_LISTEN_ADDR [0.0.0.0]  SLAPD_PORT [389]  SLAPD_LOG_LEVEL [stats]  SLAPD_DEBUG_LEVEL [= log level]
#   GWDIR_SERVER_ID, GWDIR_PEER_URI     set both to run as one of two replicating providers
#   GWDIR_SEED_BASE [true; with a peer: true only on server ID 1]  load base.ldif on first start
# Only the first start creates anything: later starts (and changed variables) reuse the volume.
set -eu

log() { printf 'gwdir-slapd: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SCHEMA_DIR=${GWDIR_SCHEMA_DIR:-/opt/gwdir/schema}
STATE_DIR=${GWDIR_STATE_DIR:-/var/lib/gwdir}
# root.pw stays private in the volume; the service passwords may go to a directory shared with
# the mail containers (compose: a volume of their own).
ROOT_SECRETS_DIR=$STATE_DIR/secrets
SECRETS_DIR=${GWDIR_SECRETS_DIR:-$STATE_DIR/secrets}
RUN_DIR=${GWDIR_RUN_DIR:-/var/run/slapd}
LDAPI_SOCKET=${SLAPD_LDAPI_SOCKET:-/var/run/slapd/ldapi}
MODULE_PATH=${SLAPD_MODULE_PATH:-/usr/lib/ldap}
SYSTEM_SCHEMA_DIR=${SLAPD_SYSTEM_SCHEMA_DIR:-/etc/ldap/schema}
LISTEN_ADDR=${SLAPD_LISTEN_ADDR:-0.0.0.0}
PORT=${SLAPD_PORT:-389}
LOG_LEVEL=${SLAPD_LOG_LEVEL:-stats}
DEBUG_LEVEL=${SLAPD_DEBUG_LEVEL:-$LOG_LEVEL}
# slapd drops to this user after binding its ports; empty keeps root (e.g. outside a container).
SLAPD_USER=${SLAPD_USER-openldap}
SLAPD_GROUP=${SLAPD_GROUP-openldap}

CONFIG_DIR=$STATE_DIR/slapd.d
DATA_DIR=$STATE_DIR/data
AUDIT_DATA_DIR=$STATE_DIR/audit

# The unit-scope ACLs are dn.regex rules over normalized DNs: lower case, no blanks around , and =.
BASE_DN=$(printf '%s' "${GWDIR_BASE_DN:-dc=example,dc=com}" | tr 'A-Z' 'a-z' | sed -e 's/ *, */,/g' -e 's/ *= */=/g')
ROOT_DN=${GWDIR_ROOT_DN:-cn=manager,$BASE_DN}
FIRST_RDN=${BASE_DN%%,*}
case $FIRST_RDN in dc=?*) BASE_RDN_VALUE=${FIRST_RDN#dc=} ;; *) die "GWDIR_BASE_DN must start with a dc= RDN: $BASE_DN" ;; esac

urlencode_path() { printf '%s' "$1" | sed -e 's/%/%25/g' -e 's|/|%2F|g'; }
LDAPI_URI="ldapi://$(urlencode_path "$LDAPI_SOCKET")"

# Escapes a value for the right-hand side of a sed s|||g.
sed_value() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# secret NAME FILE: the value of $NAME, else of the file named by $NAME_FILE, else of FILE,
# else a new random one (printed once); the value is (re)written to FILE, mode 0600.
secret() {
    name=$1 file=$2
    eval "value=\${$name:-}"
    eval "value_file=\${${name}_FILE:-}"
    if [ -z "$value" ] && [ -n "$value_file" ]; then value=$(cat "$value_file"); fi
    if [ -z "$value" ] && [ -s "$file" ]; then value=$(cat "$file"); fi
    if [ -z "$value" ]; then
        value=$(tr -dc 'A-HJ-NP-Za-km-z2-9' </dev/urandom | head -c 24)
        log "generated $name (kept in $file): $value"
    fi
    case $value in *'
'*) die "$name must be one line" ;; esac
    (umask 077; printf '%s' "$value" >"$file")
    printf '%s' "$value"
}

# render TEMPLATE NAME=VALUE...: fills {{NAME}}; drops comment lines like DirectorySchema.render;
# fails when a placeholder is left, so the templates and this script cannot drift apart silently.
render() {
    template=$1; shift
    script=''
    for pair in "$@"; do
        script="$script
s|{{${pair%%=*}}}|$(sed_value "${pair#*=}")|g"
    done
    out=$(grep -v '^#' "$template" | sed -e "$script")
    if printf '%s\n' "$out" | grep -q '{{[A-Z_]*}}'; then
        die "$template: unfilled placeholder $(printf '%s\n' "$out" | grep -o '{{[A-Z_]*}}' | head -n1)"
    fi
    printf '%s\n' "$out"
}

mkdir -p "$STATE_DIR" "$ROOT_SECRETS_DIR" "$SECRETS_DIR" "$RUN_DIR" "$(dirname "$LDAPI_SOCKET")"
chmod 700 "$ROOT_SECRETS_DIR" "$SECRETS_DIR"
ROOT_PW=$(secret GWDIR_ROOT_PW "$ROOT_SECRETS_DIR/root.pw")

fresh=false
if [ ! -f "$CONFIG_DIR/cn=config.ldif" ]; then
    log "first start: creating the configuration in $CONFIG_DIR (base $BASE_DN)"
    rm -rf "$CONFIG_DIR" "$DATA_DIR" "$AUDIT_DATA_DIR"
    mkdir -p "$CONFIG_DIR" "$DATA_DIR" "$AUDIT_DATA_DIR"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (umask 077; printf '%s' "$ROOT_PW" >"$work/pw")
    ROOT_PW_HASH=$(slappasswd -n -h '{SSHA}' -T "$work/pw")
    render "$SCHEMA_DIR/slapd/config.ldif" \
        BASE_DN="$BASE_DN" ROOT_DN="$ROOT_DN" ROOT_PW="$ROOT_PW_HASH" RUN_DIR="$RUN_DIR" \
        DATA_DIR="$DATA_DIR" AUDIT_DATA_DIR="$AUDIT_DATA_DIR" MODULE_PATH="$MODULE_PATH" \
        SYSTEM_SCHEMA_DIR="$SYSTEM_SCHEMA_DIR" GWDIR_SCHEMA_LDIF="$SCHEMA_DIR/gwdir.ldif" \
        LOG_LEVEL="$LOG_LEVEL" >"$work/config.ldif"
    slapadd -n0 -F "$CONFIG_DIR" -l "$work/config.ldif"
    if [ -n "${GWDIR_PEER_URI:-}" ]; then
        [ -n "${GWDIR_SERVER_ID:-}" ] || die "GWDIR_PEER_URI needs GWDIR_SERVER_ID (1..4095, unique per node)"
        case $ROOT_PW in *'"'*|*'\'*) die "a replicated root password must not contain \" or \\" ;; esac
        log "replication: server ID $GWDIR_SERVER_ID, provider $GWDIR_PEER_URI"
        render "$SCHEMA_DIR/slapd/replication.ldif" \
            SERVER_ID="$GWDIR_SERVER_ID" RID="$(printf '%03d' "$GWDIR_SERVER_ID")" PEER_URI="$GWDIR_PEER_URI" \
            MODULE_PATH="$MODULE_PATH" BASE_DN="$BASE_DN" ROOT_DN="$ROOT_DN" ROOT_PW_CLEAR="$ROOT_PW" >"$work/replication.ldif"
        slapmodify -n0 -F "$CONFIG_DIR" -l "$work/replication.ldif"
    fi
    rm -rf "$work"
    trap - EXIT
    fresh=true
fi

if [ -n "$SLAPD_USER" ]; then
    chown -R "$SLAPD_USER:$SLAPD_GROUP" "$CONFIG_DIR" "$DATA_DIR" "$AUDIT_DATA_DIR" "$RUN_DIR" "$(dirname "$LDAPI_SOCKET")"
    set -- -u "$SLAPD_USER" -g "$SLAPD_GROUP"
else
    set --
fi

# The base tree goes in with ldapadd through a running slapd, so slapo-ppolicy hashes the service
# passwords as for every other add. With a peer, only server 1 seeds; the other replicates it.
if [ -n "${GWDIR_PEER_URI:-}" ] && [ "${GWDIR_SERVER_ID:-}" != 1 ]; then seed_default=false; else seed_default=true; fi
if [ "${GWDIR_SEED_BASE:-$seed_default}" = true ] && [ ! -f "$STATE_DIR/.base-loaded" ]; then
    GWDIR_PW=$(secret GWDIR_GWDIR_PW "$SECRETS_DIR/gwdir.pw")
    DOVECOT_PW=$(secret GWDIR_DOVECOT_PW "$SECRETS_DIR/dovecot.pw")
    POSTFIX_PW=$(secret GWDIR_POSTFIX_PW "$SECRETS_DIR/postfix.pw")
    log "loading base.ldif"
    rm -f "$LDAPI_SOCKET"
    slapd -F "$CONFIG_DIR" -h "$LDAPI_URI/" "$@"
    tries=0
    until ldapsearch -x -H "$LDAPI_URI" -s base -b '' namingContexts >/dev/null 2>&1; do
        tries=$((tries + 1)); [ $tries -lt 200 ] || die "slapd did not start for seeding"; sleep 0.1
    done
    render "$SCHEMA_DIR/slapd/base.ldif" \
        BASE_DN="$BASE_DN" BASE_RDN_VALUE="$BASE_RDN_VALUE" \
        GWDIR_PW="$GWDIR_PW" DOVECOT_PW="$DOVECOT_PW" POSTFIX_PW="$POSTFIX_PW" |
        ldapadd -x -H "$LDAPI_URI" -D "$ROOT_DN" -y "$ROOT_SECRETS_DIR/root.pw" >/dev/null
    kill "$(cat "$RUN_DIR/slapd.pid")"
    tries=0
    while [ -f "$RUN_DIR/slapd.pid" ] && kill -0 "$(cat "$RUN_DIR/slapd.pid")" 2>/dev/null; do
        tries=$((tries + 1)); [ $tries -lt 300 ] || die "seeding slapd did not stop"; sleep 0.1
    done
    touch "$STATE_DIR/.base-loaded"
    log "base tree loaded; service passwords are in $SECRETS_DIR"
elif $fresh; then
    log "base.ldif not loaded here (GWDIR_SEED_BASE=${GWDIR_SEED_BASE:-$seed_default}): the tree comes from the peer or from 'gwdir init'"
fi

rm -f "$LDAPI_SOCKET"
log "starting slapd on ldap://$LISTEN_ADDR:$PORT/ and $LDAPI_URI/"
exec slapd -d "$DEBUG_LEVEL" -F "$CONFIG_DIR" -h "ldap://$LISTEN_ADDR:$PORT/ $LDAPI_URI/" "$@"
