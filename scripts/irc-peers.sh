#!/usr/bin/env bash
# scripts/irc-peers.sh — the IRC peers fmn's IRC sender talks to: InspIRCd 3
# with Anope 2.0 services (SASL PLAIN and NickServ). Idempotent.
#
#   scripts/irc-peers.sh          install inspircd and anope when missing (apt)
#   scripts/irc-peers.sh start    also run a pair for `fmn dev` on 127.0.0.1
#                                 (clients 16667, TLS 16697, link 17000; state in
#                                 .data/irc) and print the FMN_IRC_URL to use
#   scripts/irc-peers.sh stop     stop that pair
#
# The Go tests (senders/irc) need only the programs: each test starts its own
# private InspIRCd and Anope on free loopback ports, configured in a
# temporary directory. Both configure the peers from the templates in
# scripts/irc (see render in this script).
#
# Environment:
#   FMN_SERVICES_NO_INSTALL=1   never run apt-get; fail instead
#   FMN_IRC_DIR                 state directory for start/stop (default .data/irc)
set -uo pipefail

note() { echo "irc-peers: $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo -n)
fi
as_root() { "${SUDO[@]}" "$@"; }

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
bin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

installed() {
	have inspircd && have anope && [ -f /usr/lib/anope/modules/inspircd3.so ]
}

install() {
	if installed; then
		echo "irc-peers: ok ($("$(bin inspircd)" --version 2>/dev/null | head -n1), $("$(bin anope)" --version 2>/dev/null | head -n1))"
		return 0
	fi
	if [ "${FMN_SERVICES_NO_INSTALL:-0}" = 1 ]; then
		note "FMN_SERVICES_NO_INSTALL=1: not installing inspircd anope"
		return 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		note "apt-get not available; install InspIRCd 3 and Anope 2.0 by hand"
		return 1
	fi
	note "apt-get install inspircd anope"
	# --no-install-recommends: anope would otherwise pull in exim4.
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends inspircd anope >&2; then
		note "apt-get update"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends inspircd anope >&2 || return 1
	fi
	# The packages enable system-wide daemons; fmn's tests and `start` run
	# their own, so keep the system ones off.
	if command -v systemctl >/dev/null 2>&1; then
		as_root systemctl disable --now inspircd anope >/dev/null 2>&1 || true
	fi
	installed || { note "inspircd/anope still missing after apt-get install"; return 1; }
	echo "irc-peers: installed"
}

DIR=${FMN_IRC_DIR:-.data/irc}
PLAIN=16667
TLS=16697
LINK=17000
NICK=notifybot
TEMPLATES=$(cd "$(dirname "${BASH_SOURCE[0]}")/irc" && pwd)

# render DIR NAME=VALUE...: copies the templates in scripts/irc, laid out as
# the state directory is, into DIR with each @NAME@ replaced by VALUE. The
# names: DIR (the state directory, absolute), PLAIN_PORT, TLS_PORT, LINK_PORT,
# NICK and PASS_BASE64 (the services account Anope starts with), and TLS and
# SASL, which start optional lines: empty keeps the line, # comments it out.
# An existing db/ file is kept: Anope writes its database back there.
# senders/irc/ircd_test.go (renderTemplates) fills the same templates the
# same way.
render() {
	local dir=$1 rel text kv
	shift
	while IFS= read -r rel; do
		[[ $rel == db/* && -e $dir/$rel ]] && continue
		text=$(<"$TEMPLATES/$rel")
		for kv; do
			text=${text//"@${kv%%=*}@"/"${kv#*=}"}
		done
		if [[ $text =~ @[A-Z_]+@ ]]; then
			note "scripts/irc/$rel: ${BASH_REMATCH[0]} not filled in"
			return 1
		fi
		mkdir -p "$(dirname "$dir/$rel")"
		printf '%s\n' "$text" >"$dir/$rel"
	done < <(cd "$TEMPLATES" && find . -type f | sed 's|^\./||' | sort)
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# run_as_peer CMD...: as nobody when root (root costs each a 3 s pause).
run_as_peer() {
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	elif [ "$(id -u)" -eq 0 ]; then
		"$@" --runasroot
	else
		"$@"
	fi
}

start() {
	install >/dev/null || return 1
	if tcp_open "$PLAIN"; then
		note "something already listens on 127.0.0.1:$PLAIN; not starting"
		print_url
		return 0
	fi
	mkdir -p "$DIR/logs"
	DIR=$(cd "$DIR" && pwd)
	local pass
	if [ -f "$DIR/password" ]; then
		pass=$(cat "$DIR/password")
	else
		pass=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
		echo "$pass" >"$DIR/password"
		chmod 600 "$DIR/password"
	fi
	# TLS when openssl can make a certificate; plain text only otherwise.
	if [ ! -f "$DIR/cert.pem" ] && command -v openssl >/dev/null 2>&1; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$DIR/key.pem" -out "$DIR/cert.pem" -days 365 -subj /CN=irc.localhost \
			-addext "subjectAltName=DNS:irc.localhost,IP:127.0.0.1" 2>/dev/null
	fi
	local tls="#"
	[ -f "$DIR/cert.pem" ] && tls=""
	render "$DIR" DIR="$DIR" PLAIN_PORT="$PLAIN" TLS_PORT="$TLS" LINK_PORT="$LINK" TLS="$tls" SASL="" \
		NICK="$NICK" PASS_BASE64="$(printf '%s' "$pass" | base64 | tr -d '\n')" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chmod 755 "$DIR"
		chown -R nobody:nogroup "$DIR"/conf "$DIR"/db "$DIR"/logs "$DIR"/*.pem "$DIR"/inspircd.conf 2>/dev/null
		chown nobody:nogroup "$DIR"
	fi
	(cd "$DIR" && run_as_peer "$(bin inspircd)" --config "$DIR/inspircd.conf" --nofork </dev/null >"$DIR/inspircd.out" 2>&1 &)
	local deadline=$((SECONDS + 10))
	until tcp_open "$LINK"; do
		[ "$SECONDS" -lt "$deadline" ] || { note "inspircd did not start; see $DIR/inspircd.out"; tail -n 20 "$DIR/inspircd.out" >&2; return 1; }
		sleep 0.1
	done
	(cd "$DIR" && run_as_peer "$(bin anope)" --confdir="$DIR/conf" --dbdir="$DIR/db" --logdir="$DIR/logs" \
		--modulesdir=/usr/lib/anope --localedir=/usr/share/anope/locale --nofork </dev/null >"$DIR/anope.out" 2>&1 &)
	deadline=$((SECONDS + 15))
	until grep -q "is done syncing" "$DIR/anope.out" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || { note "anope did not link; see $DIR/anope.out"; tail -n 20 "$DIR/anope.out" >&2; return 1; }
		sleep 0.1
	done
	echo "irc-peers: started (InspIRCd 127.0.0.1:$PLAIN, Anope linked; state in $DIR)"
	print_url
}

print_url() {
	local pass
	pass=$(cat "$DIR/password" 2>/dev/null || echo PASSWORD)
	if [ -f "$DIR/cert.pem" ]; then
		echo "FMN_IRC_URL='ircs://$NICK:$pass@127.0.0.1:$TLS?ca_file=$DIR/cert.pem'"
	else
		echo "FMN_IRC_URL='irc://$NICK:$pass@127.0.0.1:$PLAIN?insecure_auth=true'"
	fi
}

stop() {
	local f pid
	for f in "$DIR/anope.pid" "$DIR/inspircd.pid"; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
			note "stopped $(basename "$f" .pid) ($pid)"
		fi
		rm -f "$f"
	done
}

case "${1:-install}" in
install) install ;;
start) start ;;
stop) stop ;;
-h | --help | help) sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' ;;
*)
	note "unknown command $1 (install, start, stop)"
	exit 2
	;;
esac
