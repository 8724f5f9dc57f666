#!/usr/bin/env bash
# scripts/check-generated.sh — regenerate the sqlc code and fail if the
# committed generated code was stale.
#
# Runs `go tool sqlc generate` from the repo root, then fails if
# `git status --porcelain -- queries/` shows any change (modified, added or
# deleted files). In CI (a clean clone) that means someone changed
# schema.sql / the queries / sqlc.yaml without committing the regenerated
# code: run `make generate` and commit the result.
#
# On a developer's machine an uncommitted edit under queries/ also counts as
# a diff; commit it (or stash it) before running this.
#
# Skips (exit 0) while the repo has no sqlc.yaml.
#
# Environment: GO (default go), GENERATED_DIRS (default "queries/").
set -euo pipefail

cd "$(dirname "$0")/.."

GO=${GO:-go}
GENERATED_DIRS=${GENERATED_DIRS:-queries/}

config=
for f in sqlc.yaml sqlc.yml sqlc.json; do
	if [ -f "$f" ]; then config=$f; break; fi
done
if [ -z "$config" ]; then
	echo "check-generated: no sqlc.yaml, skipping"
	exit 0
fi

# Content of the generated dirs (to tell whether generation changed anything
# when they already had uncommitted changes).
snapshot() {
	# shellcheck disable=SC2086 # GENERATED_DIRS is a list
	{ find $GENERATED_DIRS -type f -print0 2>/dev/null || true; } | sort -z | xargs -0 -r sha256sum
}

# shellcheck disable=SC2086
before=$(git status --porcelain -- $GENERATED_DIRS)
before_sum=$(snapshot)

echo "check-generated: $GO tool sqlc generate ($config)"
if ! "$GO" tool sqlc generate; then
	echo "check-generated: FAILED: 'go tool sqlc generate' failed (see above)" >&2
	exit 1
fi

# shellcheck disable=SC2086
after=$(git status --porcelain -- $GENERATED_DIRS)
if [ -n "$after" ]; then
	{
		echo "check-generated: FAILED: generated code under $GENERATED_DIRS differs from what is committed:"
		echo "$after" | sed 's/^/    /'
		# shellcheck disable=SC2086
		git --no-pager diff --stat -- $GENERATED_DIRS | sed 's/^/    /'
		if [ -n "$before" ]; then
			echo "check-generated: note: $GENERATED_DIRS already had uncommitted changes before generating:"
			echo "$before" | sed 's/^/    /'
			if [ "$before_sum" = "$(snapshot)" ]; then
				echo "check-generated: generation did not change any file: the generated code matches the sources; commit it and re-run."
			else
				echo "check-generated: generation changed files too: the generated code was stale; commit the result and re-run."
			fi
		else
			echo "check-generated: the committed generated code is stale: run 'make generate' and commit the result."
		fi
	} >&2
	exit 1
fi
echo "check-generated: ok (generated code in $GENERATED_DIRS is up to date)"
