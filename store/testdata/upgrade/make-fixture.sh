#!/usr/bin/env bash
# Makes the upgrade fixture: a database written by an earlier gatehouse
# release (one that migrated its schema implicitly at start), with a user, a
# service client, signing keys, a refresh token and an offline token, dumped
# as SQL for SQLite and PostgreSQL, plus the credentials and tokens needed to
# prove they still work after an upgrade (fixtures.json).
#
# Usage: bash store/testdata/upgrade/make-fixture.sh COMMIT OUT_DIR
# Needs: git history, sqlite3, pg_dump/psql and a PostgreSQL at
# 127.0.0.1:5432 with trust auth (as in CI).
set -euo pipefail
commit=$1
out=$(realpath -m "$2")
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'pkill -P $$ || true; git -C "$repo" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach "$work/src" "$commit" >/dev/null
(cd "$work/src" && CGO_ENABLED=0 go build -o "$work/gatehouse" ./cmd/gatehouse)
mkdir -p "$out"

# A fixed test master key: the keys, sessions and settings are sealed with it.
export GATEHOUSE_MASTER_KEY=Z2F0ZWhvdXNlLXVwZ3JhZGUtZml4dHVyZS1rZXktMzI=
export GATEHOUSE_ISSUER=http://127.0.0.1:18480
export GATEHOUSE_HTTP_ADDR=127.0.0.1:18480 GATEHOUSE_GRPC_ADDR=127.0.0.1:18451
password='upgrade-fixture-password-1'

make_one() { # kind database-url
  local kind=$1 url=$2 dir="$work/$1"
  mkdir -p "$dir"
  export GATEHOUSE_DATA_DIR=$dir GATEHOUSE_DATABASE_URL=$url
  "$work/gatehouse" serve >"$dir/serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs "$GATEHOUSE_ISSUER/readyz" >/dev/null && break; sleep 0.2; done
  printf '%s\n' "$password" | "$work/gatehouse" users create --username alice --email alice@example.com --roles editor,viewer >/dev/null
  local secret
  secret=$("$work/gatehouse" clients create --client-id billing --roles reports 2>/dev/null | sed -n 's/.*secret[^A-Za-z0-9_-]*\([A-Za-z0-9_-]\{20,\}\).*/\1/p' | head -1)
  [ -n "$secret" ] || { echo "no client secret printed" >&2; exit 1; }
  local pw off
  pw=$(curl -fs "$GATEHOUSE_ISSUER/oauth2/token" -d grant_type=password -d username=alice --data-urlencode "password=$password")
  off=$(curl -fs "$GATEHOUSE_ISSUER/oauth2/token" -d grant_type=password -d username=alice --data-urlencode "password=$password" -d scope=offline_access)
  kill "$pid"; wait "$pid" || true
  python3 - "$out/$kind.json" "$password" "$secret" "$pw" "$off" <<'PY'
import json, sys, time
path, password, secret, pw, off = sys.argv[1:]
pw, off = json.loads(pw), json.loads(off)
json.dump({
  "made_at": int(time.time()),
  "issuer": "http://127.0.0.1:18480",
  "username": "alice", "password": password,
  "client_id": "billing", "client_secret": secret,
  "access_token": pw["access_token"], "refresh_token": pw["refresh_token"],
  "offline_token": off["refresh_token"],
}, open(path, "w"), indent=2)
PY
}

make_one sqlite "$work/sqlite/gatehouse.db"
sqlite3 "$work/sqlite/gatehouse.db" .dump >"$out/sqlite.sql"

db=gatehouse_fixture_$$
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
make_one postgres "postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
pg_dump -h 127.0.0.1 -U postgres --inserts --no-owner --no-privileges --no-comments "$db" \
  | grep -v -e '^SET ' -e '^\\' -e '^SELECT pg_catalog.set_config' -e '^--' -e '^$' >"$out/postgres.sql"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE $db"
printf '%s\n' "$commit" >"$out/COMMIT"
echo "fixture of $commit written to $out"
