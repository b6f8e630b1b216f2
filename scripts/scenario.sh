#!/usr/bin/env bash
# The Quick start scenario: a local directory under ./.gwdir (of the current directory), a
# workspace, two units, accounts (one Korean), an alias, a unit admin acting with --as (inside
# and outside their unit) and a find. Idempotent: a second run only shows and finds.
# GWDIR_BIN names the binary (default: gwdir on PATH). Tests/GWDirCLITests runs this script.
set -euo pipefail
gwdir="${GWDIR_BIN:-gwdir}"
run() { echo "\$ gwdir $*"; "$gwdir" "$@"; }

run local start
run init
mkdir -p .gwdir/secrets
umask 077
for who in first-admin minjun sam; do
  [ -s ".gwdir/secrets/$who.password" ] || head -c 18 /dev/urandom | base64 > ".gwdir/secrets/$who.password"
done
umask 022
run init --admin admin@example.com --admin-password-file .gwdir/secrets/first-admin.password
run whoami

if ! "$gwdir" workspace show acme >/dev/null 2>&1; then
  run workspace add acme --name "Acme 주식회사" --domain acme.example
  run unit add sales --workspace acme --display-name 영업부
  run unit add east --workspace acme --parent sales
  run unit add dev --workspace acme
  run user add minjun --workspace acme --unit sales/east --first-name 민준 --last-name 김 \
    --mail minjun@acme.example --password-file .gwdir/secrets/minjun.password --quota 10G
  run user add sam --workspace acme --unit sales --first-name Sam --last-name Park \
    --mail sam@acme.example --password-file .gwdir/secrets/sam.password --service both
  run alias add minjun@acme.example sales-kr@acme.example --folder Sales-KR
  run admin grant sam@acme.example --workspace acme --unit sales
  # The unit admin, bound as himself: allowed inside sales, refused in dev by slapd's ACLs.
  run user add seoyeon --workspace acme --unit sales --first-name 서연 --last-name 김 \
    --mail seoyeon@acme.example --password-file .gwdir/secrets/minjun.password \
    --as sam@acme.example --as-password-file .gwdir/secrets/sam.password
  if run user add dave --workspace acme --unit dev --first-name Dave --last-name Kim \
    --mail dave@acme.example --password-file .gwdir/secrets/minjun.password \
    --as sam@acme.example --as-password-file .gwdir/secrets/sam.password 2>&1; then
    echo "unexpected: a unit admin added an account outside their unit" >&2
    exit 1
  fi
fi
run unit list --workspace acme
run user find --workspace acme --last-name 김 --prefix
run user show minjun@acme.example
run admin list --workspace acme --all
