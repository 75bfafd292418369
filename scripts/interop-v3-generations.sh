#!/usr/bin/env bash
# Neon's real v3 walproposer with generations enabled (neon.safekeepers = 'g#1:...') against three
# of our processes, as Neon's storage controller runs computes: the timeline is created over HTTP
# first (generation 1, start_lsn = the first record), then the walproposer adopts that
# configuration, elects, streams the whole WAL range (byte-checked) and passes sync mode.
# Development tool: needs ../shared/interop/build-wp.sh build-v3 first; npm test does not use it.
set -euo pipefail
WP_DIR="${WP_DIR:-${TMPDIR:-/tmp}/walproposer-harness}"
. "$WP_DIR/wal.env"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
base=$((20000 + RANDOM % 20000))
members=""
for i in 1 2 3; do
  mkdir -p "$work/d$i"
  node "$here/dist/src/cli.js" -D "$work/d$i" --listen-pg "127.0.0.1:$((base + i))" --listen-http "127.0.0.1:$((base + 10 + i))" --id "$i" >"$work/sk$i.log" 2>&1 &
  members="$members${members:+,}{\"id\":$i,\"host\":\"127.0.0.1\",\"pg_port\":$((base + i))}"
done
tenant=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
timeline=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
for i in 1 2 3; do
  for _ in $(seq 50); do curl -sf "127.0.0.1:$((base + 10 + i))/v1/status" >/dev/null && break; sleep 0.1; done
  curl -sf -X POST "127.0.0.1:$((base + 10 + i))/v1/tenant/timeline" -H 'content-type: application/json' \
    -d "{\"tenant_id\":\"$tenant\",\"timeline_id\":\"$timeline\",\"mconf\":{\"generation\":1,\"members\":[$members]},\"pg_version\":150018,\"system_id\":$WP_SYSTEM_ID,\"start_lsn\":\"0/1000028\"}" >/dev/null
done
HARNESS="$WP_DIR/wp_harness_v3" TENANT="$tenant" TIMELINE="$timeline" "$WP_DIR/run-interop.sh" \
  --safekeepers "g#1:127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))" \
  --sk-data "$work/d1,$work/d2,$work/d3" --sync "$@"
