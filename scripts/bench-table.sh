#!/usr/bin/env bash
# Issue 16's performance table: runs the benchmarks behind each figure RUNS
# times (default 2), each against a separate nats-server process, and prints
# every figure of every run beside its aim.
#
#   scripts/bench-table.sh            # full size, twice (about 25 min on 2 cores)
#   RUNS=1 SIZE=small scripts/bench-table.sh   # quick look (about 3 min)
#
# The raw `go test` output of each run stays in $OUT (default
# test-artifacts/bench/): the benchmarks print their own longer tables there.
# The machine's load average is printed with each run: on a shared machine
# compare the ratios and the CPU per message, which it moves least.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-2}
# The matcher drains the backlog ROUNDS times per pipeline run, each round
# between two measurements of the ceilings; each ratio is its median over
# the rounds (a slow patch of a shared VM moves one round, not the verdict).
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-full}
OUT=${OUT:-test-artifacts/bench}
GO=${GO:-go}
mkdir -p "$OUT"

if [ -z "${FMN_BENCH_NATS_SERVER:-}" ]; then
	[ -x bin/nats-server ] || make -s nats-server
	export FMN_BENCH_NATS_SERVER=$PWD/bin/nats-server
fi

small=()
if [ "$SIZE" = small ]; then
	small=(FMN_BENCH_RULES=20000 FMN_BENCH_USERS=10000 FMN_BENCH_PACKAGES=4000
		FMN_BENCH_MESSAGES=20000 FMN_BENCH_LATENCY_SECONDS=5 FMN_BENCH_RULE_EVENTS=20000)
fi
realistic=(FMN_BENCH_KNOWN_USER_SHARE=0.03 FMN_BENCH_FOLLOWED_SHARE=0.04)

# Build the test binaries once, so each run times only the benchmark.
for pkg in consumer rulelog api; do
	$GO test -c -o "$OUT/$pkg.test" "./$pkg/"
done

bench() { # file pkg regex [env...]
	local file=$1 pkg=$2 re=$3
	shift 3
	echo "   $(basename "$file" .txt): $(uptime | sed 's/.*load/load/')" >&2
	(cd "$pkg" && env "${small[@]}" "$@" "../$OUT/$pkg.test" -test.run '^$' -test.bench "$re" \
		-test.benchtime 1x -test.benchmem -test.timeout 60m) >"$file" 2>&1 ||
		{ echo "bench-table: $file failed; its output:" >&2; tail -n 30 "$file" >&2; exit 1; }
}

for run in $(seq 1 "$RUNS"); do
	echo "run $run of $RUNS ($SIZE), $(date -u +%H:%M:%S) UTC" >&2
	bench "$OUT/worst-$run.txt" consumer '^BenchmarkPipeline$' FMN_BENCH_ROUNDS="$ROUNDS"
	bench "$OUT/realistic-$run.txt" consumer '^BenchmarkPipeline$' FMN_BENCH_ROUNDS="$ROUNDS" "${realistic[@]}"
	bench "$OUT/index-$run.txt" consumer '^BenchmarkIndexMemory$'
	bench "$OUT/projector-$run.txt" rulelog '^BenchmarkProjector$'
	bench "$OUT/api-$run.txt" api '^BenchmarkAPI$'
done

# metric FILE BENCH UNIT: the value reported in UNIT on BENCH's result line.
metric() {
	awk -v b="$2" -v u="$3" '
		$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == u) { print $i; exit } }' "$1"
}

# row NAME AIM CMP LIMIT FILE BENCH UNIT: one figure of every run, with its verdict.
row() {
	local name=$1 aim=$2 cmp=$3 limit=$4 file=$5 b=$6 unit=$7 vals=() verdict=met v
	for run in $(seq 1 "$RUNS"); do
		v=$(metric "$OUT/$file-$run.txt" "$b" "$unit")
		vals+=("${v:-?}")
		if [ -z "$v" ] || ! awk -v v="$v" -v l="$limit" -v c="$cmp" 'BEGIN { exit !((c == ">=" && v >= l) || (c == "<=" && v <= l) || (c == "<" && v < l)) }'; then
			verdict=MISSED
		fi
	done
	[ "$cmp" = "" ] && verdict=-
	printf '| %s | %s | %s | %s |\n' "$name" "$aim" "$(IFS=/; echo "${vals[*]// /}" | sed 's#/# / #g')" "$verdict"
}

echo
echo "== issue 16: figures of $RUNS run(s), $SIZE size, separate nats-server =="
echo
echo "| figure | aim | run 1 / run 2 … | verdict |"
echo "|---|---|---|---|"
row "worst case: matcher msgs/s" "" "" 0 worst BenchmarkPipeline msgs/s
row "worst case: matcher / same-fan-out ceiling" ">= 0.80" ">=" 0.8 worst BenchmarkPipeline ratio_fanout
row "worst case: p99 publish→NOTIFY at 2,000 msg/s (ms)" "< 5" "<" 5 worst BenchmarkPipeline p99_ms
row "worst case: floor p99, plain JetStream republisher, same fan-out and rate (ms)" "" "" 0 worst BenchmarkPipeline floor_p99_ms
row "worst case: longest stop of the load process itself during it (ms): the machine" "" "" 0 worst BenchmarkPipeline hiccup_max_ms
row "worst case: p99.9 (ms)" "" "" 0 worst BenchmarkPipeline p999_ms
row "worst case: max (ms)" "" "" 0 worst BenchmarkPipeline max_ms
row "worst case: GC share of CPU, idle-time marking included (%)" "<= 10" "<=" 10 worst BenchmarkPipeline gc_all_pct
row "worst case: GC share without the idle-time marking (%)" "" "" 0 worst BenchmarkPipeline gc_pct
row "worst case: GOGC set by the heap floor (FMN_CONSUMER_GC_HEADROOM)" "" "" 0 worst BenchmarkPipeline gogc
row "realistic: matcher msgs/s" "" "" 0 realistic BenchmarkPipeline msgs/s
row "realistic: consume+ack ceiling msgs/s" "" "" 0 realistic BenchmarkPipeline consume_ceiling_msgs/s
row "realistic: matcher / consume+ack ceiling" ">= 0.50" ">=" 0.5 realistic BenchmarkPipeline ratio_consume
row "realistic: composed ceiling / consume+ack (the best a matcher reaches)" "" "" 0 realistic BenchmarkPipeline composed/consume
row "realistic: matcher / composed ceiling" "" "" 0 realistic BenchmarkPipeline ratio_composed
row "realistic: p99 at 2,000 msg/s (ms)" "" "" 0 realistic BenchmarkPipeline p99_ms
row "realistic: floor p99, same fan-out and rate (ms)" "" "" 0 realistic BenchmarkPipeline floor_p99_ms
row "realistic: GC share of CPU, idle-time marking included (%)" "<= 10" "<=" 10 realistic BenchmarkPipeline gc_all_pct
row "realistic: GC share without the idle-time marking (%)" "" "" 0 realistic BenchmarkPipeline gc_pct
row "index, B/rule (BenchmarkIndexMemory)" "<= 512" "<=" 512 index BenchmarkIndexMemory B/rule
row "index, B/rule (in the pipeline)" "<= 512" "<=" 512 worst BenchmarkPipeline index_B/rule
row "projector catch-up, events/s" ">= 20000" ">=" 20000 projector BenchmarkProjector catchup_events/s
row "projector rebuild, events/s" ">= 20000" ">=" 20000 projector BenchmarkProjector rebuild_events/s
row "API GET rules p99 at 2,000 req/s (ms)" "< 5" "<" 5 api BenchmarkAPI/GET p99-ms
row "API GET: share answered from the cache (%)" "" "" 0 api BenchmarkAPI/GET hit-%
row "API GET p99 at 2,000 req/s without the cache, every list from PostgreSQL (ms)" "" "" 0 api BenchmarkAPI/GET_uncached p99-ms
row "API create rule p99 (ms)" "< 10" "<" 10 api BenchmarkAPI/POST p99-ms
echo
echo "raw output: $OUT/{worst,realistic,index,projector,api}-N.txt"
