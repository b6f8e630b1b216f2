#!/bin/sh
# Entrypoint of the Postfix and Dovecot containers of docker/compose.yaml. Renders the
# repository's templates (docker/postfix/*, docker/dovecot/*: the same files the mail-server
# tests render), mounted read-only at $TEMPLATE_DIR, then runs the server in the foreground.
#   postfix: *.cf lookup tables -> $POSTFIX_CONF_DIR; main.cf.* fragments applied with
#            postconf -c $POSTFIX_CONF_DIR -e; master.cf.* fragments appended to its master.cf
#            (once); postfix -c $POSTFIX_CONF_DIR check / start-fg.
#   dovecot: every file -> $DOVECOT_CONF_DIR (dovecot.conf replaces Debian's), the global Sieve
#            script compiled with sievec, dovecot -F -c it.
# Templates are rendered into a private staging directory (mktemp -d under $TMPDIR, removed on
# exit), never a fixed path. The virtual mail user (vmail, $VMAIL_UID:$VMAIL_GID) is created only
# inside a container (/.dockerenv or /run/.containerenv, or GWDIR_CREATE_VMAIL_USER=true); on a
# host the numeric ids are used as they are (Dovecot needs no account for them).
#   mail-entrypoint.sh postfix | dovecot
# Every {{NAME}} in a template is replaced by the environment variable NAME (for NAME ending in
# _PW also by the content of the file named by NAME_FILE, waited for up to 120 s: compose hands
# over the service passwords slapd1 generated in the shared secrets volume). A placeholder
# without a value stops the container with its name, so templates and compose cannot drift
# apart silently. Comment lines are dropped from the rendered files.
# GWDIR_CHECK_ONLY=true renders and checks the configuration (postfix check / doveconf) and exits.
set -eu

log() { printf 'gwdir-%s: %s\n' "$ROLE" "$*" >&2; }
die() { log "error: $*"; exit 1; }

ROLE=${1:?usage: mail-entrypoint.sh postfix|dovecot}
TEMPLATE_DIR=${TEMPLATE_DIR:-/etc/gwdir/templates}

# value NAME: $NAME, else the content of $NAME_FILE (waiting for the file to appear).
value() {
    eval "v=\${$1:-}"
    if [ -z "$v" ]; then
        eval "f=\${${1}_FILE:-}"
        if [ -n "$f" ]; then
            tries=0
            until [ -s "$f" ]; do
                tries=$((tries + 1)); [ $tries -le 240 ] || die "$1_FILE=$f did not appear within 120 s"
                sleep 0.5
            done
            v=$(cat "$f")
        fi
    fi
    [ -n "$v" ] || die "no value for {{$1}}: set $1 (or ${1}_FILE)"
    printf '%s' "$v"
}

# render SOURCE TARGET
render() {
    script=''
    for name in $(grep -v '^[[:space:]]*#' "$1" | grep -o '{{[A-Z0-9_]*}}' | sort -u | tr -d '{}'); do
        escaped=$(value "$name" | sed -e 's/[\\&|]/\\&/g')
        script="$script
s|{{$name}}|$escaped|g"
    done
    grep -v '^[[:space:]]*#' "$1" | sed -e "$script" >"$2.tmp"
    mv "$2.tmp" "$2"
}

render_all() { # target directory; every regular file of the template directory
    mkdir -p "$1"
    for source in "$TEMPLATE_DIR"/*; do
        [ -f "$source" ] || continue
        render "$source" "$1/$(basename "$source")"
        log "rendered $(basename "$source") -> $1"
    done
}

in_container() {
    case ${GWDIR_CREATE_VMAIL_USER:-auto} in
    true) return 0 ;;
    false) return 1 ;;
    esac
    [ -e /.dockerenv ] || [ -e /run/.containerenv ]
}

staging=$(mktemp -d "${TMPDIR:-/tmp}/gwdir-$ROLE.XXXXXX")
trap 'rm -rf "$staging"' EXIT

case $ROLE in
postfix)
    POSTFIX_CONF_DIR=${POSTFIX_CONF_DIR:-/etc/postfix}
    MAIL_HOSTNAME=${MAIL_HOSTNAME:-mail.example.com}
    export POSTFIX_CONF_DIR MAIL_HOSTNAME
    render_all "$staging"
    # Lookup tables (*.cf) go to the configuration directory, readable by root and postfix only.
    for table in "$staging"/*.cf; do
        [ -f "$table" ] || continue
        install -m 640 -g postfix "$table" "$POSTFIX_CONF_DIR/$(basename "$table")"
    done
    # main.cf.* fragments: each "name = value" line is applied on top of Debian's main.cf.
    for fragment in "$staging"/main.cf.*; do
        [ -f "$fragment" ] || continue
        grep '=' "$fragment" | while IFS= read -r line; do postconf -c "$POSTFIX_CONF_DIR" -e "$line"; done
        log "applied $(basename "$fragment") to main.cf"
    done
    # master.cf.* fragments: services appended to master.cf (once; the container may restart).
    for fragment in "$staging"/master.cf.*; do
        [ -f "$fragment" ] || continue
        marker="# gwdir: $(basename "$fragment")"
        if ! grep -qxF "$marker" "$POSTFIX_CONF_DIR/master.cf"; then
            { echo "$marker"; cat "$fragment"; } >>"$POSTFIX_CONF_DIR/master.cf"
            log "appended $(basename "$fragment") to master.cf"
        fi
    done
    postconf -c "$POSTFIX_CONF_DIR" -e "myhostname = $MAIL_HOSTNAME" "maillog_file = /dev/stdout" \
        "inet_interfaces = ${POSTFIX_INET_INTERFACES:-all}" "inet_protocols = ipv4"
    # No chroot: the LDAP lookups run in smtpd/cleanup, which would need resolver files in the jail.
    postconf -c "$POSTFIX_CONF_DIR" -F '*/*/chroot = n'
    postfix -c "$POSTFIX_CONF_DIR" check
    [ "${GWDIR_CHECK_ONLY:-false}" = true ] && { log "configuration rendered and checked"; exit 0; }
    log "starting postfix"
    rm -rf "$staging"; trap - EXIT
    exec postfix -c "$POSTFIX_CONF_DIR" start-fg
    ;;
dovecot)
    DOVECOT_CONF_DIR=${DOVECOT_CONF_DIR:-/etc/dovecot}
    export DOVECOT_CONF_DIR
    VMAIL_UID=${VMAIL_UID:-5000} VMAIL_GID=${VMAIL_GID:-5000} MAIL_ROOT=${MAIL_ROOT:-/var/vmail}
    export VMAIL_UID VMAIL_GID MAIL_ROOT
    if in_container; then
        getent group vmail >/dev/null || groupadd -g "$VMAIL_GID" vmail
        getent passwd vmail >/dev/null || useradd -u "$VMAIL_UID" -g "$VMAIL_GID" -d "$MAIL_ROOT" -s /usr/sbin/nologin vmail
    fi
    mkdir -p "$MAIL_ROOT" "${BASE_DIR:-/run/dovecot}" "${STATE_DIR:-/var/lib/dovecot}"
    chown "$VMAIL_UID:$VMAIL_GID" "$MAIL_ROOT"
    render_all "$staging"
    for file in "$staging"/*; do
        install -m 644 "$file" "$DOVECOT_CONF_DIR/$(basename "$file")"
    done
    chmod 600 "$DOVECOT_CONF_DIR"/*.conf.ext 2>/dev/null || true
    doveconf -c "$DOVECOT_CONF_DIR/dovecot.conf" -n >/dev/null
    # The global Sieve script runs as the mail user, who cannot write next to it: compile it now.
    for script in "$DOVECOT_CONF_DIR"/*.sieve; do
        [ -f "$script" ] || continue
        sievec -c "$DOVECOT_CONF_DIR/dovecot.conf" "$script"
    done
    [ "${GWDIR_CHECK_ONLY:-false}" = true ] && { log "configuration rendered and checked"; exit 0; }
    log "starting dovecot"
    rm -rf "$staging"; trap - EXIT
    exec dovecot -F -c "$DOVECOT_CONF_DIR/dovecot.conf"
    ;;
*)
    die "unknown role $ROLE (postfix or dovecot)"
    ;;
esac
