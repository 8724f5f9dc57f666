#!/usr/bin/env bash
# scripts/services.sh — make sure the local services fmn's tests and `fmn dev`
# need are running. Idempotent: a service that already answers is left alone.
#
#   scripts/services.sh                      # all: postgres redis nats rabbitmq chromium
#   scripts/services.sh postgres redis       # just these
#
# For each service: check it answers on 127.0.0.1; if not, start it with the
# same command the dev/CI machine (go-svc) uses; if the program is missing,
# `apt-get install` its Debian package first (apt-get update runs once, only
# when an install is needed). Then wait for it with a deadline.
#
# Prints one line per service on stdout:
#   <name>: ok (already running) | started | installed+started
# Progress/diagnostics go to stderr. Exits non-zero if a required service
# (postgres, redis, rabbitmq) cannot be made ready; nats is best-effort
# (the Go tests embed their own nats-server), and so is chromium (Debian's
# browser for the web UI's end-to-end tests, which `make test` skips without
# it).
#
# Environment:
#   FMN_PG_DATABASES   databases to ensure exist (default: "test")
#   FMN_PG_CLUSTER / FMN_PG_PORT   Debian cluster name / port (main / 5432)
#   FMN_SERVICES_NO_INSTALL=1   never run apt-get; fail instead
set -uo pipefail

ALL_SERVICES=(postgres redis nats rabbitmq chromium)
PG_DATABASES=${FMN_PG_DATABASES:-test}
PG_CLUSTER=${FMN_PG_CLUSTER:-main}
PG_PORT=${FMN_PG_PORT:-5432}

# Readiness deadlines, in seconds (after the start command returns).
PG_TIMEOUT=${PG_TIMEOUT:-60}
REDIS_TIMEOUT=${REDIS_TIMEOUT:-20}
NATS_TIMEOUT=${NATS_TIMEOUT:-20}
RABBIT_TIMEOUT=${RABBIT_TIMEOUT:-90}

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'
}

note() { echo "services: $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo -n)
	fi
fi
as_root() { "${SUDO[@]}" "$@"; }

# Output of start commands goes here (never to our stdout: a daemon that keeps
# our stdout open would hang a `| tee` in CI).
START_LOG=$(mktemp -t fmn-services.XXXXXX)
trap 'rm -f "$START_LOG"' EXIT

# --- helpers ---------------------------------------------------------------

# tcp_open PORT: true if something accepts a TCP connection on 127.0.0.1:PORT.
tcp_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

APT_UPDATED=0
apt_install() {
	if [ "${FMN_SERVICES_NO_INSTALL:-0}" = 1 ]; then
		note "FMN_SERVICES_NO_INSTALL=1: not installing $*"
		return 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		note "apt-get not available; install $* by hand"
		return 1
	fi
	if [ "$APT_UPDATED" = 0 ]; then
		note "apt-get update"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
		APT_UPDATED=1
	fi
	note "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# wait_for SECONDS CHECK-CMD...: poll every 0.5 s until CHECK-CMD succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.5
	done
}

# run_start CMD...: run a start command, its output to $START_LOG.
run_start() {
	echo "+ $*" >>"$START_LOG"
	as_root "$@" </dev/null >>"$START_LOG" 2>&1
}

show_logs() {
	local f
	if [ -s "$START_LOG" ]; then
		note "start command output:"
		tail -n 20 "$START_LOG" | sed 's/^/    /' >&2
	fi
	for f in "$@"; do
		[ -r "$f" ] || continue
		note "last lines of $f:"
		tail -n 20 "$f" | sed 's/^/    /' >&2
	done
}

# --- PostgreSQL --------------------------------------------------------------

pg_version() { # newest installed cluster version, or empty
	ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

pg_ready() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2
	else
		tcp_open "$PG_PORT"
	fi
}

pg_installed() {
	command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
}

pg_start() {
	local ver
	ver=$(pg_version)
	if [ -z "$ver" ] || [ ! -d "/etc/postgresql/$ver/$PG_CLUSTER" ]; then
		ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
		if [ -z "$ver" ]; then
			note "postgres: no server binaries under /usr/lib/postgresql"
			return 1
		fi
		note "postgres: creating cluster $ver/$PG_CLUSTER"
		run_start pg_createcluster -p "$PG_PORT" "$ver" "$PG_CLUSTER" || return 1
	fi
	# A cluster already "online" but not yet accepting connections is just
	# starting up: wait rather than start it twice.
	if pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}' | grep -q online; then
		return 0
	fi
	run_start pg_ctlcluster --skip-systemctl-redirect "$ver" "$PG_CLUSTER" start
}

# psql as postgres over TCP with trust auth (what the tests use).
pg_tcp() { psql -X -q -w -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

pg_configure() { # $1 = 1 if freshly installed
	local fresh=$1 ver hba db
	if ! command -v psql >/dev/null 2>&1; then
		apt_install postgresql-client || { note "postgres: psql missing, cannot check auth/databases"; return 1; }
	fi
	if ! pg_tcp -d postgres -Atc 'select 1' >/dev/null 2>&1; then
		ver=$(pg_version)
		hba=/etc/postgresql/$ver/$PG_CLUSTER/pg_hba.conf
		if [ -z "$ver" ] || [ ! -f "$hba" ]; then
			note "postgres: cannot connect as postgres@127.0.0.1 (trust) and no local pg_hba.conf to fix"
			return 1
		fi
		note "postgres: enabling trust auth for local and 127.0.0.1 in $hba"
		as_root cp -p "$hba" "$hba.fmn-bak" || return 1
		{
			echo "# added by fmn scripts/services.sh: trust local test connections"
			echo "local   all   all                  trust"
			echo "host    all   all   127.0.0.1/32   trust"
			cat "$hba.fmn-bak"
		} | as_root tee "$hba" >/dev/null || return 1
		run_start pg_ctlcluster --skip-systemctl-redirect "$ver" "$PG_CLUSTER" reload || return 1
		if ! wait_for 10 pg_tcp -d postgres -Atc 'select 1' >/dev/null 2>&1; then
			note "postgres: still cannot connect as postgres@127.0.0.1 after editing pg_hba.conf"
			return 1
		fi
	fi
	if [ "$fresh" = 1 ]; then
		# Mirror the go-svc machine: a superuser role and database for root.
		if [ "$(pg_tcp -d postgres -Atc "select 1 from pg_roles where rolname='root'")" != 1 ]; then
			pg_tcp -d postgres -c 'create role root superuser login' || return 1
		fi
		PG_DATABASES="$PG_DATABASES root"
	fi
	for db in $PG_DATABASES; do
		if [ "$(pg_tcp -d postgres -Atc "select 1 from pg_database where datname='$db'")" != 1 ]; then
			note "postgres: creating database $db"
			pg_tcp -d postgres -c "create database \"$db\"" || return 1
		fi
	done
}

ensure_postgres() {
	local status="ok (already running)" fresh=0
	if ! pg_ready; then
		if ! pg_installed; then
			apt_install postgresql || { echo "postgres: FAILED (apt-get install postgresql failed)"; return 1; }
			fresh=1
		fi
		if ! pg_ready; then
			pg_start
		fi
		if ! wait_for "$PG_TIMEOUT" pg_ready; then
			show_logs /var/log/postgresql/postgresql-"$(pg_version)"-"$PG_CLUSTER".log
			echo "postgres: FAILED (not accepting connections on 127.0.0.1:$PG_PORT after ${PG_TIMEOUT}s)"
			return 1
		fi
		if [ "$fresh" = 1 ]; then status="installed+started"; else status="started"; fi
	fi
	if ! pg_configure "$fresh"; then
		echo "postgres: FAILED (running, but postgres@127.0.0.1 trust auth / databases ($PG_DATABASES) not usable)"
		return 1
	fi
	echo "postgres: $status"
}

# --- Redis -------------------------------------------------------------------

redis_ready() {
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(timeout 3 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
	else
		timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379; printf "PING\r\n" >&3; read -r l <&3; [[ $l == +PONG* ]]' 2>/dev/null
	fi
}

redis_start() {
	as_root mkdir -p /var/lib/redis /var/log/redis
	run_start redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
		--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

ensure_redis() {
	local status="ok (already running)" fresh=0
	if ! redis_ready; then
		if ! command -v redis-server >/dev/null 2>&1; then
			apt_install redis-server || { echo "redis: FAILED (apt-get install redis-server failed)"; return 1; }
			fresh=1
		fi
		# A package postinst may have started it already.
		if ! redis_ready; then
			redis_start
		fi
		if ! wait_for "$REDIS_TIMEOUT" redis_ready; then
			show_logs /var/log/redis/ci.log
			echo "redis: FAILED (no PONG from 127.0.0.1:6379 after ${REDIS_TIMEOUT}s)"
			return 1
		fi
		if [ "$fresh" = 1 ]; then status="installed+started"; else status="started"; fi
	fi
	echo "redis: $status"
}

# --- NATS (best-effort) ----------------------------------------------------

nats_ready() {
	# The server greets every client with an INFO line.
	timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222; read -r l <&3; [[ $l == INFO* ]]' 2>/dev/null
}

nats_start() {
	as_root mkdir -p /var/lib/nats-server
	run_start start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
		-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

ensure_nats() {
	local status="ok (already running)" fresh=0
	if ! nats_ready; then
		if [ ! -x /usr/sbin/nats-server ]; then
			apt_install nats-server || { echo "nats: WARNING not available (apt-get install nats-server failed); continuing"; return 0; }
			fresh=1
		fi
		if ! nats_ready; then
			nats_start
		fi
		if ! wait_for "$NATS_TIMEOUT" nats_ready; then
			show_logs /var/log/nats-server.log
			echo "nats: WARNING not ready on 127.0.0.1:4222 after ${NATS_TIMEOUT}s; continuing (tests embed their own nats-server)"
			return 0
		fi
		if [ "$fresh" = 1 ]; then status="installed+started"; else status="started"; fi
	fi
	echo "nats: $status"
}

# --- RabbitMQ ----------------------------------------------------------------

rabbit_ready() {
	# Send the AMQP 0-9-1 protocol header; a ready broker answers with a
	# Connection.Start method frame, whose first byte is frame type 1.
	local b
	b=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672; printf "AMQP\x00\x00\x09\x01" >&3; head -c 1 <&3 | od -An -tu1' 2>/dev/null | tr -d ' ')
	[ "$b" = 1 ]
}

rabbit_booting() { # a broker VM owned by the rabbitmq user is already up
	pgrep -u rabbitmq -f 'beam.*rabbit' >/dev/null 2>&1
}

ensure_rabbitmq() {
	local status="ok (already running)" fresh=0
	if ! rabbit_ready; then
		if ! command -v rabbitmq-server >/dev/null 2>&1; then
			apt_install rabbitmq-server || { echo "rabbitmq: FAILED (apt-get install rabbitmq-server failed)"; return 1; }
			fresh=1
		fi
		if rabbit_booting; then
			note "rabbitmq: broker process exists, waiting for it to accept AMQP"
		else
			run_start rabbitmq-server -detached
		fi
		if ! wait_for "$RABBIT_TIMEOUT" rabbit_ready; then
			show_logs /var/log/rabbitmq/startup_err /var/log/rabbitmq/startup_log
			echo "rabbitmq: FAILED (no AMQP answer on 127.0.0.1:5672 after ${RABBIT_TIMEOUT}s)"
			return 1
		fi
		if [ "$fresh" = 1 ]; then status="installed+started"; else status="started"; fi
	fi
	echo "rabbitmq: $status"
}

# --- Chromium (best-effort; a program, not a service) ------------------------

# The web UI's end-to-end tests drive Debian's Chromium with playwright-core
# (.library/env/machines/go-svc.md): its own browser download is blocked.
ensure_chromium() {
	if [ -x /usr/bin/chromium ]; then
		echo "chromium: ok (installed)"
		return 0
	fi
	apt_install chromium || { echo "chromium: WARNING not available (apt-get install chromium failed); the web UI's browser tests will be skipped"; return 0; }
	if ! /usr/bin/chromium --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; then
		echo "chromium: WARNING installed but does not start; the web UI's browser tests will fail"
		return 0
	fi
	echo "chromium: installed"
}

# --- main ----------------------------------------------------------------------

services=()
for arg in "$@"; do
	case "$arg" in
	-h | --help | help) usage; exit 0 ;;
	all) services+=("${ALL_SERVICES[@]}") ;;
	postgres | postgresql | pg) services+=(postgres) ;;
	redis) services+=(redis) ;;
	nats | nats-server) services+=(nats) ;;
	rabbitmq | rabbit | amqp) services+=(rabbitmq) ;;
	chromium | chrome | browser) services+=(chromium) ;;
	*) echo "services: unknown service '$arg' (known: ${ALL_SERVICES[*]})" >&2; exit 2 ;;
	esac
done
[ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")

failed=()
done_list=" "
for s in "${services[@]}"; do
	case "$done_list" in *" $s "*) continue ;; esac
	done_list+="$s "
	: >"$START_LOG"
	if ! "ensure_$s"; then
		failed+=("$s")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "services: required service(s) not ready: ${failed[*]}" >&2
	exit 1
fi
