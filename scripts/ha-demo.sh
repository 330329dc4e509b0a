#!/usr/bin/env bash
# The high-availability reference deployment on one machine (issue 12, item 6), from Debian's
# packages (apt-get install patroni etcd-server haproxy postgresql), without systemd:
#
#   etcd (1 member)  ->  3 x PostgreSQL 15 under Patroni, synchronous replication
#   HAProxy: a write port routed to Patroni's leader (REST check /primary), a read port to replicas
#   2 x `confide serve` on the write port, same master key, own data directories and listeners
#
# then drives writes at both Confide nodes, kills the PostgreSQL primary's "machine" (SIGKILL to its
# Patroni, its postmaster and every backend at once), waits for Patroni to promote the synchronous
# standby, keeps writing, and prints: the time from the kill to the first acknowledged write after
# it, the requests refused meanwhile and what they answered, every acknowledged record read back
# (0 lost), and `confide audit verify`. Exits non-zero when a write is lost, a refusal is not in
# the contract's error shape, the service does not come back, or the access log does not verify.
#
#   scripts/ha-demo.sh                 # one run, about a minute and a half
#   HA_DEMO_KILL=postgres scripts/ha-demo.sh    # kill only the postmaster (a PostgreSQL crash:
#                                      # Patroni restarts it in place, usually without a failover)
#   HA_DEMO_KILL=patroni scripts/ha-demo.sh     # kill only Patroni (PostgreSQL keeps running but
#                                      # loses the leader key: fenced by HAProxy and sync replication)
#
# Environment: HA_DEMO_KILL (machine | postgres | patroni; default machine), HA_DEMO_AFTER_SECONDS
# (writing after the kill, default 25), HA_DEMO_KEEP=1 keeps the temporary directory for reading
# the logs, HA_DEMO_PG_BIN (default the newest /usr/lib/postgresql/*/bin), HA_DEMO_SKIP_BUILD=1.
# Ports: free loopback ports picked at start. Everything lives under one temporary directory,
# removed on exit, including Ctrl-C. Must run as root (PostgreSQL runs as `postgres`) or as the
# user that owns the PostgreSQL binaries' data.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KILL_MODE="${HA_DEMO_KILL:-machine}"
AFTER_SECONDS="${HA_DEMO_AFTER_SECONDS:-25}"
SCOPE=confide-ha

say() { printf '[ha-demo %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
now_ms() { date +%s%3N; }

case "$KILL_MODE" in machine | postgres | patroni) ;; *) die "HA_DEMO_KILL must be machine, postgres or patroni" ;; esac
for tool in patroni etcd haproxy curl node; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install patroni etcd-server haproxy curl)"
done
PG_BIN="${HA_DEMO_PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL's server programs are not installed (apt-get install postgresql)"

WORK="$(mktemp -d /tmp/confide-ha-XXXXXX)"
chmod 755 "$WORK" # the postgres user must reach its nodes' folders
PIDS=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  # Confide, the driver, HAProxy and Patroni first (none of them may restart a PostgreSQL), then
  # every postmaster still running, then etcd.
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for pidfile in "$WORK"/pg*/data/postmaster.pid; do
    [ -f "$pidfile" ] && kill -9 "$(head -1 "$pidfile")" 2>/dev/null
  done
  [ -n "${ETCD_PID:-}" ] && kill -9 "$ETCD_PID" 2>/dev/null
  wait 2>/dev/null
  if [ "${HA_DEMO_KEEP:-}" = 1 ]; then
    say "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Fifteen distinct free loopback ports, held open together while they are picked.
read -r -a PORTS <<<"$(node -e '
  const net = require("node:net");
  const servers = Array.from({ length: 15 }, () => net.createServer());
  Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", r)))).then(() => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });')"
ETCD_CLIENT=${PORTS[0]} ETCD_PEER=${PORTS[1]}
PG_PORT=("${PORTS[2]}" "${PORTS[3]}" "${PORTS[4]}")
REST_PORT=("${PORTS[5]}" "${PORTS[6]}" "${PORTS[7]}")
WRITE_PORT=${PORTS[8]} READ_PORT=${PORTS[9]}
CONFIDE_PUBLIC=("${PORTS[10]}" "${PORTS[11]}")
CONFIDE_ADMIN=("${PORTS[12]}" "${PORTS[13]}")

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
SUPERUSER_PASSWORD="$(secret)" REPLICATION_PASSWORD="$(secret)" CONFIDE_PASSWORD="$(secret)"

wait_for() { # wait_for <seconds> <what> <command...>
  local seconds=$1 what=$2
  shift 2
  local deadline=$(($(date +%s) + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
}

# --- 1. etcd: the distributed configuration store where Patroni keeps the leader key ------------
say "starting etcd on 127.0.0.1:$ETCD_CLIENT"
etcd --name e1 --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "e1=http://127.0.0.1:$ETCD_PEER" --initial-cluster-state new >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
wait_for 30 etcd curl -fsS "http://127.0.0.1:$ETCD_CLIENT/health"

# --- 2. three PostgreSQL nodes under Patroni -------------------------------------------------------
# Timings: ttl 10 s (the leader key's lease), loop_wait 1 s, retry_timeout 4 s, so that
# loop_wait + 2 * retry_timeout <= ttl as Patroni requires. A dead primary's key expires at most
# 10 s after its last renewal and a replica takes over within a loop after that. The cost: a primary
# that cannot reach etcd for 4 s demotes itself (Patroni's defaults, 30/10/10, tolerate 10 s of DCS
# trouble but make every failover about three times slower), and 1 s loops cost a little CPU.
write_patroni_config() { # <n>
  local n=$1 dir="$WORK/pg$1"
  install -d -m 700 "$dir"
  cat >"$dir/patroni.yml" <<YAML
scope: $SCOPE
name: pg$n
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:${REST_PORT[$((n - 1))]}
  connect_address: 127.0.0.1:${REST_PORT[$((n - 1))]}
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    # Only the synchronous standby, which has flushed every acknowledged commit, may be promoted.
    synchronous_mode: true
    # With no synchronous standby left the primary stops acknowledging commits instead of falling
    # back to asynchronous replication: a lone primary could otherwise acknowledge a write, die, and
    # take it along. Writes wait rather than risk loss.
    synchronous_mode_strict: true
    synchronous_node_count: 1
    # A guard for the asynchronous standby only; the synchronous one is never behind a commit.
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
        # "on": a commit is acknowledged once the synchronous standby has flushed its WAL to disk.
        synchronous_commit: "on"
        # After a failover the new primary acknowledges nothing until a standby streams from it
        # (synchronous_mode_strict). A standby that tried before Patroni made its replication slot
        # waits this long to retry: PostgreSQL's 5 s default added 5 s to every failover.
        wal_retrieve_retry_interval: 500ms
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:${PG_PORT[$((n - 1))]}
  connect_address: 127.0.0.1:${PG_PORT[$((n - 1))]}
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  authentication:
    superuser: {username: postgres, password: "$SUPERUSER_PASSWORD"}
    replication: {username: replicator, password: "$REPLICATION_PASSWORD"}
    rewind: {username: postgres, password: "$SUPERUSER_PASSWORD"}
  parameters:
    unix_socket_directories: "$dir"
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
YAML
  chmod 600 "$dir/patroni.yml"
  [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$dir"
}

PATRONI_PID=()
# As root, Patroni and so PostgreSQL run as `postgres` (initdb refuses root). setpriv execs in
# place, so $! is Patroni's own pid, the one a kill must reach.
start_patroni() { # <n>
  local n=$1
  # Started directly, not through a shell function: a backgrounded function is a subshell, and $!
  # would be its pid, not Patroni's.
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- patroni "$WORK/pg$n/patroni.yml" >"$WORK/pg$n/patroni.log" 2>&1 &
  else
    patroni "$WORK/pg$n/patroni.yml" >"$WORK/pg$n/patroni.log" 2>&1 &
  fi
  PATRONI_PID[n]=$!
  PIDS+=("$!")
}
for n in 1 2 3; do write_patroni_config "$n"; done
say "starting Patroni and PostgreSQL on 127.0.0.1:${PG_PORT[*]} (REST ${REST_PORT[*]})"
start_patroni 1
wait_for 60 "the first Patroni node to lead" curl -fsS "http://127.0.0.1:${REST_PORT[0]}/primary"
start_patroni 2
start_patroni 3
# /sync answers 200 on the synchronous standby only.
sync_standby() { curl -fsS "http://127.0.0.1:${REST_PORT[1]}/sync" || curl -fsS "http://127.0.0.1:${REST_PORT[2]}/sync"; }
wait_for 90 "a synchronous standby" sync_standby
wait_for 90 "the first replica" curl -fsS "http://127.0.0.1:${REST_PORT[1]}/replica"
wait_for 90 "the second replica" curl -fsS "http://127.0.0.1:${REST_PORT[2]}/replica"

# --- 3. HAProxy: the write port follows Patroni's leader ------------------------------------------
# Each server is checked on its Patroni REST port: /primary answers 200 on the leader only, /replica
# on a running replica. on-marked-down shutdown-sessions cuts every connection to a server as soon
# as it stops being the leader, so no client keeps writing to a demoted or fenced node.
{
  cat <<CFG
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen postgres_write
    bind 127.0.0.1:$WRITE_PORT
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
CFG
  for n in 1 2 3; do echo "    server pg$n 127.0.0.1:${PG_PORT[$((n - 1))]} maxconn 100 check port ${REST_PORT[$((n - 1))]}"; done
  cat <<CFG
listen postgres_read
    bind 127.0.0.1:$READ_PORT
    balance roundrobin
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
CFG
  for n in 1 2 3; do echo "    server pg$n 127.0.0.1:${PG_PORT[$((n - 1))]} maxconn 100 check port ${REST_PORT[$((n - 1))]}"; done
} >"$WORK/haproxy.cfg"
haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy refused its configuration"
say "starting HAProxy: writes on 127.0.0.1:$WRITE_PORT, reads on 127.0.0.1:$READ_PORT"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=("$!")

psql_write() { PGPASSWORD="$SUPERUSER_PASSWORD" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$WRITE_PORT" -U postgres -d postgres "$@"; }
wait_for 30 "the write port to reach the leader" psql_write -tAc 'select 1'
psql_write -c "CREATE ROLE confide LOGIN PASSWORD '$CONFIDE_PASSWORD'" -c 'CREATE DATABASE confide OWNER confide'

# --- 4. two Confide nodes on the write port ------------------------------------------------------
if [ "${HA_DEMO_SKIP_BUILD:-}" != 1 ] && { [ ! -f "$ROOT/dist/cli/main.js" ] || [ -n "$(find "$ROOT/src" -name '*.ts' -newer "$ROOT/dist/cli/main.js" -print -quit)" ]; }; then
  say "building Confide (dist/ is older than src/)"
  (cd "$ROOT" && npm run --silent build)
fi
MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
install -d -m 700 "$WORK/tenant-keys"
node_env() { # <n>: the environment of Confide node n, one VAR=value a line
  local n=$1
  printf '%s\n' \
    "PATH=$PATH" "HOME=${HOME:-/tmp}" \
    "CONFIDE_DATA_DIR=$WORK/confide$n" \
    "CONFIDE_MASTER_KEY=$MASTER_KEY" \
    "CONFIDE_TENANT_KEY_DIR=$WORK/tenant-keys" \
    "CONFIDE_DATABASE_URL=postgres://confide:$CONFIDE_PASSWORD@127.0.0.1:$WRITE_PORT/confide" \
    "CONFIDE_PUBLIC_LISTEN=127.0.0.1:${CONFIDE_PUBLIC[$((n - 1))]}" \
    "CONFIDE_ADMIN_LISTEN=127.0.0.1:${CONFIDE_ADMIN[$((n - 1))]}" \
    "CONFIDE_LOG_LEVEL=warn" \
    "CONFIDE_RATE_LIMIT_PER_IP=1000000" "CONFIDE_RATE_LIMIT_PER_ACCOUNT=1000000" "CONFIDE_RATE_LIMIT_PER_TENANT=1000000"
}
for n in 1 2; do node_env "$n" >"$WORK/confide$n.env"; done
chmod 600 "$WORK"/confide*.env
confide() { # <n> <args...>: the confide command with node n's environment
  local n=$1
  shift
  (mapfile -t vars <"$WORK/confide$n.env" && exec env -i "${vars[@]}" node "$ROOT/bin/confide.js" "$@")
}
start_confide() { # <n>
  local n=$1 vars
  mapfile -t vars <"$WORK/confide$n.env"
  # A plain command in the background, not the function above, so that $! is the node's own pid.
  env -i "${vars[@]}" node "$ROOT/bin/confide.js" serve >"$WORK/confide$n.log" 2>&1 &
  PIDS+=("$!")
  wait_for 60 "Confide node $n" grep -q 'Confide is listening' "$WORK/confide$n.log"
}
# One after the other: the first creates the schema, the second finds it.
say "starting Confide on 127.0.0.1:${CONFIDE_PUBLIC[0]} and 127.0.0.1:${CONFIDE_PUBLIC[1]}"
start_confide 1
start_confide 2

# --- 5. writes, the kill, the failover ------------------------------------------------------------
leader() { # the number of the node whose Patroni answers /primary, if any
  for n in 1 2 3; do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:${REST_PORT[$((n - 1))]}/primary" 2>/dev/null; then
      echo "$n"
      return 0
    fi
  done
  return 1
}
DRIVER_DIR="$WORK/driver"
mkdir -p "$DRIVER_DIR"
(cd "$ROOT" && exec node --import tsx scripts/ha-driver.ts \
  --dir "$DRIVER_DIR" --ports "${CONFIDE_PUBLIC[0]},${CONFIDE_PUBLIC[1]}" \
  --env-files "$WORK/confide1.env,$WORK/confide2.env" --after-seconds "$AFTER_SECONDS") &
DRIVER_PID=$!
PIDS+=("$DRIVER_PID")
wait_for 120 "the driver's first writes" test -f "$DRIVER_DIR/warm"

OLD=$(leader) || die "no Patroni leader before the kill"
OLD_PATRONI=${PATRONI_PID[$OLD]}
POSTMASTER=$(head -1 "$WORK/pg$OLD/data/postmaster.pid")
# Every backend and auxiliary process of that PostgreSQL, listed before anything is killed.
mapfile -t BACKENDS < <(ps -o pid= --ppid "$POSTMASTER" | tr -d ' ')
case "$KILL_MODE" in
  machine) VICTIMS=("$OLD_PATRONI" "$POSTMASTER" "${BACKENDS[@]}") ;;
  postgres) VICTIMS=("$POSTMASTER") ;;
  patroni) VICTIMS=("$OLD_PATRONI") ;;
esac
KILLED_AT=$(now_ms)
kill -9 "${VICTIMS[@]}" 2>/dev/null || true
echo "$KILLED_AT" >"$DRIVER_DIR/killed.tmp" && mv "$DRIVER_DIR/killed.tmp" "$DRIVER_DIR/killed"
say "killed pg$OLD ($KILL_MODE: ${#VICTIMS[@]} processes, SIGKILL)"

NEW=""
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if NEW=$(leader) && [ "$NEW" != "$OLD" ]; then break; fi
  [ "$KILL_MODE" = postgres ] && NEW=$(leader) && break
  NEW=""
  sleep 0.2
done
PROMOTED_AT=$(now_ms)
if [ -n "$NEW" ]; then
  say "pg$NEW leads, $((PROMOTED_AT - KILLED_AT)) ms after the kill"
else
  say "no new leader within 60 s of the kill"
fi

set +e
wait "$DRIVER_PID"
DRIVER_STATUS=$?
set -e
[ "$DRIVER_STATUS" -eq 0 ] || say "the driver reports a failure (exit $DRIVER_STATUS)"

# --- 6. the access log verifies across the failover ----------------------------------------------
say "confide audit verify (through the new primary)"
set +e
confide 2 audit verify >"$WORK/audit-verify.txt" 2>&1
AUDIT_STATUS=$?
set -e
cat "$WORK/audit-verify.txt" >&2

LEADER_SECONDS=$([ -n "$NEW" ] && echo "$(((PROMOTED_AT - KILLED_AT) / 1000)).$(printf '%03d' $(((PROMOTED_AT - KILLED_AT) % 1000)))" || echo null)
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const [summaryFile, mode, oldLeader, newLeader, leaderSeconds, auditStatus] = process.argv.slice(1);
  const summary = JSON.parse(require("node:fs").readFileSync(summaryFile, "utf8"));
  const result = { kill: mode, killedNode: `pg${oldLeader}`, newLeader: newLeader ? `pg${newLeader}` : null,
    newLeaderSeconds: leaderSeconds === "null" ? null : Number(leaderSeconds), ...summary, auditVerify: Number(auditStatus) === 0 ? "ok" : "FAILED" };
  console.log("HA_DEMO_RESULT " + JSON.stringify(result));' \
  "$DRIVER_DIR/summary.json" "$KILL_MODE" "$OLD" "$NEW" "$LEADER_SECONDS" "$AUDIT_STATUS" 2>/dev/null ||
  echo "HA_DEMO_RESULT {\"error\":\"the driver wrote no summary\"}"

[ "$DRIVER_STATUS" -eq 0 ] || die "acknowledged writes lost, refusals out of contract, or the service never came back: see above"
[ "$AUDIT_STATUS" -eq 0 ] || die "the access log does not verify"
[ -n "$NEW" ] || [ "$KILL_MODE" = postgres ] || die "Patroni promoted no replica"
say "ok: no acknowledged write lost, the access log verifies"
