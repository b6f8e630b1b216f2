#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, and runs every test —
# Swift Testing suites against real slapd, Postfix and Dovecot, the schema/ACL shell check,
# and the docker/ images and compose file under podman.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test

# Servers the tests start are children of the test process; this catches any left behind
# by a crash, so a failed run never leaves daemons on the machine.
cleanup() {
  pkill -f 'slapd -F /tmp/gwdir-' 2>/dev/null || true
  pkill -f 'dovecot -c /tmp/gwdir-' 2>/dev/null || true
}

# Each step's header, and how long the one before took (the README lists these times).
step_name="" step_start=$SECONDS
step() {
  if [ -n "$step_name" ]; then echo "-- $step_name took $((SECONDS - step_start)) s"; fi
  step_name="$1" step_start=$SECONDS
  echo "== $1"
}
trap 'step_end=$?; [ -n "$step_name" ] && echo "-- $step_name took $((SECONDS - step_start)) s"; cleanup; exit $step_end' EXIT

step "swift build (debug, tests)"
swift build --build-tests

step "swift test"
swift test --skip-build --skip ReplicationTests --skip RequestTimeoutTests --skip TimeoutCLITests --skip LeakTests
# Two replicating slapds on their own: under the full parallel run on 2 cores, a change once took
# longer than the tests' 30 s convergence deadline (not reproduced in isolation).
step "swift test (ReplicationTests)"
swift test --skip-build --filter ReplicationTests
# Frozen-slapd timeouts measure seconds against 1-2 s deadlines: under the full parallel run the
# connection threads were starved long enough to miss them (a reconnect took 15 s once).
step "swift test (RequestTimeoutTests, TimeoutCLITests)"
swift test --skip-build --filter 'RequestTimeoutTests|TimeoutCLITests'

# LeakTests builds the ldap-leak-check workload with --sanitize=address in .build-asan and runs
# it against slapd: AddressSanitizer (memory errors) and LeakSanitizer (every libldap object freed).
step "AddressSanitizer + LeakSanitizer: the ldap-leak-check workload (LeakTests, .build-asan)"
swift test --skip-build --filter LeakTests

# A build of its own; LeakTests (an ASan build) and the frozen-slapd timeouts (seconds against
# 1-2 s deadlines, which TSan's slowdown would miss) are left to the steps above. Shared state
# is behind LDAPClient's LockedValue (a pthread mutex TSan intercepts), so any report is a real
# finding: the step fails on the first one (halt_on_error) and prints it.
TSAN_SUITES='LDAPClientTests|AuditLogTests|AuditStateMachineTests|AuditSweepTests|AuditServicesTests|SpoolTests|SpooledRecorderTests|SpoolRunTests|FoldedLoginRunTests|ServeWiringTests'
step "ThreadSanitizer: LDAPClient, AuditLog/spool and serve-wiring suites (.build-tsan; any report fails)"
swift build --build-tests --sanitize=thread --scratch-path .build-tsan
tsan_status=0
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan-suppressions.txt" swift test --skip-build --sanitize=thread --scratch-path .build-tsan \
  --filter "$TSAN_SUITES" --skip LeakTests --skip RequestTimeoutTests > .build-tsan/tsan-test.log 2>&1 || tsan_status=$?
if [ "$tsan_status" -ne 0 ] || grep -q 'WARNING: ThreadSanitizer' .build-tsan/tsan-test.log; then
  grep -B2 -A40 -m1 'WARNING: ThreadSanitizer' .build-tsan/tsan-test.log || tail -n 60 .build-tsan/tsan-test.log
  echo "ThreadSanitizer step failed with status $tsan_status (full log: .build-tsan/tsan-test.log)"
  exit 1
fi
grep -E "Test run with" .build-tsan/tsan-test.log
echo "ThreadSanitizer: no reports (full log: .build-tsan/tsan-test.log)"

step "libFuzzer: DN, filter and LDIF parsers (scripts/fuzz.sh, 60 s each)"
bash scripts/fuzz.sh 60

step "schema and ACL check (scripts/check-schema.sh)"
bash scripts/check-schema.sh

step "benchmark smoke run (gwdir-bench --quick; the full run is documented in Benchmarks/README.md)"
swift build -c release --product gwdir-bench
.build/release/gwdir-bench --quick

if [ -x scripts/podman-smoke.sh ]; then
  step "docker/ images under podman (scripts/podman-smoke.sh)"
  bash scripts/podman-smoke.sh
fi

# docker/compose.yaml under podman-compose: the gwdir image from the debug binary built above
# (docker/gwdir/Dockerfile.prebuilt), an account made with the CLI, IMAP logins audited through
# Dovecot -> gwdir serve, a mail through Postfix read back over IMAP.
if [ -x scripts/compose-smoke.sh ]; then
  step "docker/compose.yaml under podman-compose (scripts/compose-smoke.sh)"
  GWDIR_BIN=.build/debug/gwdir bash scripts/compose-smoke.sh
fi
