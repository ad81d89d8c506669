#!/usr/bin/env bash
# Cold start and idle memory of the release binary, on loopback, in a temp dir.
# First start creates the keys and the database; then N starts are timed from exec until
# GET /readyz answers 200 (min/median), and the last one idles before its VmRSS is read.
# Targets: cold start < 1 s once keys exist; idle RSS < 30 MiB.
#
#   bash bench/startup.sh          (RUNS=5 IDLE_SECONDS=3 by default)
set -euo pipefail

RUNS=${RUNS:-5}
IDLE_SECONDS=${IDLE_SECONDS:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

cargo build --release --quiet --bin tessera --manifest-path "$root/Cargo.toml"
binary=${CARGO_TARGET_DIR:-$root/target}/release/tessera

work=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A port nothing listens on: connecting to it is refused.
free_port() {
    local port
    while true; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

now_ns() { date +%s%N; }

# Starts tessera listening on port $1; sets pid and url.
start() {
    local port=$1
    url="http://127.0.0.1:$port"
    (
        cd "$work"
        exec env -u TESSERA_CONFIG -u TESSERA_ISSUER -u TESSERA_KEY_ENCRYPTION_KEY \
            DATABASE_URL="sqlite://$work/tessera.db?mode=rwc" \
            TESSERA_KEYS_DIR="$work/keys" \
            TESSERA_LISTEN="127.0.0.1:$port" \
            TESSERA_ADMIN_PASSWORD=startup-bench-password \
            "$binary" serve
    ) >>"$work/tessera.log" 2>&1 &
    pid=$!
}

# Polls /readyz every ~5 ms until it answers 200; gives up after 30 s.
wait_ready() {
    local deadline=$(($(now_ns) + 30000000000))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/readyz") == 200 ]]; do
        if ! kill -0 "$pid" 2>/dev/null || (($(now_ns) > deadline)); then
            echo "tessera did not become ready; log:" >&2
            cat "$work/tessera.log" >&2
            exit 1
        fi
        sleep 0.005
    done
}

stop() {
    kill "$pid"
    wait "$pid" || true
    pid=
}

port=$(free_port)
began=$(now_ns)
start "$port"
wait_ready
echo "first start (creates the database, keys and superadmin): $((($(now_ns) - began) / 1000000)) ms"
stop

times=()
for ((run = 1; run <= RUNS; run++)); do
    port=$(free_port)
    began=$(now_ns)
    start "$port"
    wait_ready
    elapsed_ms=$((($(now_ns) - began) / 1000000))
    times+=("$elapsed_ms")
    echo "start $run: ${elapsed_ms} ms until /readyz answered 200"
    if ((run < RUNS)); then
        stop
    fi
done

sleep "$IDLE_SECONDS"
rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
stop

mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
min=${sorted[0]}
median=${sorted[$((RUNS / 2))]}
mib() { awk -v kib="$1" 'BEGIN { printf "%.1f", kib / 1024 }'; }
verdict() { if (($1)); then echo "ok"; else echo "OVER"; fi; }

echo
printf 'cold start (keys exist), %d runs: min %d ms, median %d ms   target < 1000 ms: %s\n' \
    "$RUNS" "$min" "$median" "$(verdict "median < 1000")"
printf 'idle RSS after %s s: %s MiB (peak %s MiB)   target < 30 MiB: %s\n' \
    "$IDLE_SECONDS" "$(mib "$rss_kib")" "$(mib "$hwm_kib")" \
    "$(verdict "rss_kib < 30 * 1024")"
