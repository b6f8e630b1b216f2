# Shared set-up of the podman scripts (scripts/podman-smoke.sh, scripts/compose-smoke.sh); sourced,
# not run. The caller defines log MESSAGE and fail MESSAGE (fail exits) before sourcing.
#   podman_setup WORKDIR   podman as ../../shared/CONTAINERS.md describes: runc, cgroupfs, no default
#                          ulimits (its own CONTAINERS_CONF in WORKDIR unless one is set), and the
#                          base image docker.io/library/debian:bookworm-slim, made with debootstrap
#                          when it is missing (there is no registry here) and kept as a cache.
#   free_port [PORT...]    a free 127.0.0.1 port (nothing answers there), none of the given ones,
#                          below the kernel's ephemeral range (ip_local_port_range): a port in that
#                          range can be taken by any outgoing connection before the server binds it
#                          (seen: slapd's bind failing with EADDRINUSE while other tests ran).
# Needs (Debian 12, root): apt-get install -y podman runc debootstrap

GWDIR_BASE_IMAGE=docker.io/library/debian:bookworm-slim

podman_setup() {
    local work=$1 tool mirror
    for tool in podman runc; do
        command -v "$tool" >/dev/null || fail "$tool is missing: apt-get install -y podman runc debootstrap"
    done
    # podman's defaults fail here (crun + cgroup v2, rlimits): runc, cgroupfs, no default ulimits.
    if [ -z "${CONTAINERS_CONF:-}" ]; then
        printf '[containers]\ndefault_ulimits = []\npids_limit = 0\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' >"$work/containers.conf"
        export CONTAINERS_CONF=$work/containers.conf
    fi
    if podman image exists "$GWDIR_BASE_IMAGE"; then
        log "base image $GWDIR_BASE_IMAGE present (cached)"
        return 0
    fi
    command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install -y debootstrap"
    log "building the base image with debootstrap (bookworm minbase)"
    # The mirror is the one apt on this machine uses (deb822 sources first, then sources.list);
    # none is written into the project. Without one, debootstrap uses its own default.
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
    log "debootstrap mirror: ${mirror:-none, debootstrap picks}"
    debootstrap --variant=minbase bookworm "$work/rootfs" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
    tar -C "$work/rootfs" -c . | podman import - "$GWDIR_BASE_IMAGE" >"$work/import.log" 2>&1 ||
        { tail -20 "$work/import.log"; fail "podman import"; }
    rm -rf "$work/rootfs"
}

free_port() {
    local port taken low=32768
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    [ "$low" -gt 12000 ] 2>/dev/null || low=32768
    for _ in $(seq 1 100); do
        port=$((10000 + RANDOM % (low - 10000)))
        taken=false
        for other in "$@"; do [ "$port" != "$other" ] || taken=true; done
        if ! $taken && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    fail "no free port"
}
