#!/usr/bin/env bash
# Mutation testing of wisp's core (issue 20), one file at a time, each against only the tests
# that exercise it. Not run in CI: the whole set takes several hours on a 2-core machine.
#
#   scripts/mutants.sh                      # every file below, in this order
#   scripts/mutants.sh src/join.rs          # just these files (as listed below)
#   MUTANTS_ARGS=--iterate scripts/mutants.sh src/join.rs   # retest only what was not caught
#   MUTANTS_RETEST=missed scripts/mutants.sh src/join.rs    # the "after" row: retest exactly the
#       mutants the file's first run missed (its missed.txt), into <file>.after/; caught, timeout
#       and unviable mutants are not retested (--iterate retests the timeouts too, ~30 s each)
#
# One cargo-mutants job at a time (`--jobs 1`). The scratch copies go under $MUTANTS_TMP and the
# builds into one target directory, $MUTANTS_TARGET_DIR, shared by the runs (so the
# dependencies are built once, not once per file); each file's report is
# $MUTANTS_OUT/<file>/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt).
# Equivalent mutants are excluded in .cargo/mutants.toml, each with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${MUTANTS_TMP:=${TMPDIR:-/tmp}/wisp-mutants}"
: "${MUTANTS_TARGET_DIR:=$MUTANTS_TMP/target}"
: "${MUTANTS_OUT:=$MUTANTS_TMP/out}"
mkdir -p "$MUTANTS_TMP" "$MUTANTS_OUT"
export TMPDIR="$MUTANTS_TMP" CARGO_TARGET_DIR="$MUTANTS_TARGET_DIR"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# file -> the cargo test arguments that exercise it
declare -A TESTS=(
  [src/task.rs]="--lib --test executor"
  [src/join.rs]="--lib --test executor"
  [src/executor.rs]="--lib --test executor --test virtual_time --test wake_stress"
  [src/executor/tasks.rs]="--lib --test executor --test virtual_time --test wake_stress"
  [src/time/wheel.rs]="--lib --test timers"
  [src/http/framing.rs]="--lib --test http"
  [src/http/decode.rs]="--lib --test http"
  [src/crawl/normalize.rs]="--lib --test crawl"
  [src/reactor/mod.rs]="--lib --test timers --test net --test executor --test foreign_block_on"
  [src/reactor/source.rs]="--lib --test net --test unix"
  [src/reactor/park.rs]="--lib --test executor --test timers --test net --test wake_stress"
  [src/run_queue.rs]="--lib --test executor --test timers --test wake_stress"
  [src/blocking.rs]="--lib --test blocking"
  [src/http/pool.rs]="--lib --test http"
  [src/http/parse_url.rs]="--lib --test http"
  [src/time/sleep.rs]="--lib --test timers --test virtual_time"
  [src/time/timeout.rs]="--lib --test timers --test virtual_time"
  [src/time/interval.rs]="--lib --test timers --test virtual_time"
  [src/time/virtual_clock.rs]="--lib --test virtual_time"
  [src/async_fd.rs]="--lib --test unix --test net"
  [src/free_set.rs]="--lib"
  [src/slab.rs]="--lib --test executor --test net"
)
ORDER=(src/task.rs src/executor.rs src/executor/tasks.rs src/run_queue.rs src/reactor/mod.rs src/reactor/park.rs
  src/time/wheel.rs src/http/framing.rs src/http/decode.rs src/join.rs src/blocking.rs
  src/http/pool.rs src/http/parse_url.rs src/crawl/normalize.rs src/reactor/source.rs
  src/time/sleep.rs src/time/timeout.rs src/time/interval.rs
  src/time/virtual_clock.rs src/async_fd.rs src/free_set.rs src/slab.rs)

files=("$@")
[ ${#files[@]} -gt 0 ] || files=("${ORDER[@]}")
for f in "${files[@]}"; do
  args=${TESTS[$f]:?"no test restriction listed for $f"}
  out="$MUTANTS_OUT/${f//\//_}"
  mkdir -p "$out"
  echo "== $f (tests: $args)"
  # The targets go to every cargo call (-C), so the build of each mutant compiles only them,
  # not every test binary of the package (what `-- ARGS` alone would do: it reaches only the
  # test run).
  cargo_args=()
  for a in $args; do cargo_args+=("--cargo-arg=$a"); done
  if [ "${MUTANTS_RETEST:-}" = missed ]; then
    list="$out/mutants.out/missed.txt"
    if [ ! -s "$list" ]; then
      echo "nothing missed in $list"
      continue
    fi
    while IFS= read -r name; do
      cargo_args+=("--re=^$(printf '%s' "$name" | sed 's/[][\\.*+?(){}|^$]/\\&/g')\$")
    done < "$list"
    out="$out.after"
    mkdir -p "$out"
  fi
  # shellcheck disable=SC2086
  cargo mutants --jobs 1 --timeout "${MUTANTS_TIMEOUT:-40}" ${MUTANTS_ARGS:-} --file "$f" \
    --output "$out" "${cargo_args[@]}" || true
  for k in caught missed timeout unviable; do
    printf '%s %s\n' "$k" "$(wc -l < "$out/mutants.out/$k.txt" 2>/dev/null || echo '?')"
  done
done
