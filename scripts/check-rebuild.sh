#!/usr/bin/env bash
# Checks `larder apply`'s rebuild path end to end, outside `swift test` (a rebuild there
# would fight over .build): copies the repository's sources to a folder, builds larder there,
# registers the example repo, edits features/Trips.swift as a user would, and checks that
# `larder apply --dry-run` rebuilds larder, runs the rebuilt binary and shows the change;
# then that --no-build refuses, and that a rebuilt binary still stale is not rebuilt again.
#
#   scripts/check-rebuild.sh [FOLDER]
#
# FOLDER (default: a new temporary folder, removed at the end) is kept when given, so a
# second run reuses its build instead of compiling every dependency again.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ge 1 ]; then
  work=$1
  keep=1
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/larder-rebuild-XXXXXX")
  keep=0
fi
work=$(cd "$work" && pwd -P)
project=$(mktemp -d "${TMPDIR:-/tmp}/larder-rebuild-project-XXXXXX")
cleanup() { rm -rf "$project"; [ "$keep" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "check-rebuild: FAILED: $*" >&2; exit 1; }

# The sources only (no build folders, data or git), replacing any earlier copy's.
rm -rf "$work/Sources" "$work/features" "$work/Tests" "$work/Plugins"
tar -C "$repo" --exclude='./.build*' --exclude=./.git --exclude=./data -cf - . | tar -C "$work" -xf -
cd "$work"
echo "check-rebuild: building larder in $work" >&2
swift build --product larder >&2
larder=$work/.build/debug/larder

printf 'project: rebuild_check\noffline:\n  path: offline.sqlite\n' > "$project/larder.yaml"
cd "$project"
"$larder" apply > /dev/null
[ "$("$larder" apply --dry-run)" = "No changes: the registry matches features/." ] || fail "a fresh build is not current"

# The edit from issue 11.
sed -i 's|fare / max(km, 0.1)|fare / max(km, 0.2)|' "$work/features/Trips.swift"
grep -q 'fare / max(km, 0.2)' "$work/features/Trips.swift" || fail "the edit did not apply"

# --no-build: refused, naming the file and the build command.
if "$larder" apply --dry-run --no-build > out.txt 2> err.txt; then fail "apply --no-build did not refuse"; fi
grep -q '^  changed: Trips.swift$' err.txt || fail "the refusal does not name Trips.swift: $(cat err.txt)"
grep -qF "swift build --package-path $work -c debug --scratch-path $work/.build --product larder" err.txt \
  || fail "the refusal does not give the build command: $(cat err.txt)"
grep -qF '(not rebuilt: --no-build)' err.txt || fail "the refusal does not say why it did not rebuild"

# The loop guard: a binary that says it was just rebuilt refuses instead of rebuilding again.
if LARDER_REBUILT=1 "$larder" apply --dry-run > out.txt 2> err.txt; then fail "LARDER_REBUILT=1 did not refuse"; fi
grep -qF 'not rebuilt again' err.txt || fail "the loop guard did not say so: $(cat err.txt)"

# The ordinary path: apply rebuilds, runs the rebuilt binary, and the plan shows the change.
"$larder" apply --dry-run > out.txt 2> err.txt || fail "apply --dry-run failed: $(cat err.txt)"
cat err.txt >&2
grep -qF "larder: rebuilding: swift build --package-path $work -c debug --scratch-path $work/.build --product larder" err.txt \
  || fail "apply did not say it rebuilds"
grep -qF "larder: running the rebuilt larder: $work/.build/" err.txt || fail "apply did not run the rebuilt binary"
cat out.txt
grep -qF '~ feature view driver_trips (v1 -> v2)' out.txt || fail "the plan does not show the change"
grep -qF 'feature changed: fare_per_km (transformation code)' out.txt || fail "the plan does not name the feature"

# Now current: no rebuild, the same plan; other commands say nothing.
"$larder" apply --dry-run > out2.txt 2> err.txt
[ ! -s err.txt ] || fail "a current binary still printed: $(cat err.txt)"
cmp -s out.txt out2.txt || fail "the second dry run's plan differs"
"$larder" apply > /dev/null
[ "$("$larder" apply --dry-run)" = "No changes: the registry matches features/." ] || fail "apply did not register the change"
echo "check-rebuild: OK" >&2
