#!/bin/sh
# The footprint row of ../shared/TARGETS.md: the stripped size of a release program doing
# `block_on` + one `TcpStream::connect` + one sleep on bare wisp (no default features), and the
# crates it compiles; then the same program on smol and on tokio (current_thread, rt + net +
# time), built the same way by the same toolchain, and wisp's size as a ratio of each.
# Builds throwaway crates in a temporary directory against this checkout; the peers' versions
# are the ones this checkout's Cargo.lock pins for its benchmarks.
#
#   scripts/footprint.sh            # uses $CARGO_TARGET_DIR if set
#   WISP_FOOTPRINT_PEERS=0 scripts/footprint.sh    # wisp alone
#
# Without CARGO_TARGET_DIR every program builds in a target directory of its own, empty, so
# the build times it prints are cold release builds (the crates' sources already downloaded).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
[ -n "${KEEP_FOOTPRINT:-}" ] && echo "kept: $dir" || trap 'rm -rf "$dir"' EXIT

# crate NAME DEPENDENCY-LINE: a crate in $dir/NAME whose main.rs is read from stdin.
crate() {
    mkdir -p "$dir/$1/src"
    cat > "$dir/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$2

[workspace]
TOML
    cat > "$dir/$1/src/main.rs"
    cp "$repo/Cargo.lock" "$dir/$1/"
}

# size NAME: builds the crate, prints its stripped size in bytes and the build's seconds.
size() {
    start=$(date +%s.%N)
    (cd "$dir/$1" && { cargo build --release --quiet --offline 2>/dev/null || cargo build --release --quiet; })
    end=$(date +%s.%N)
    bin="${CARGO_TARGET_DIR:-$dir/$1/target}/release/$1"
    strip -o "$dir/$1.stripped" "$bin"
    echo "$(stat -c %s "$dir/$1.stripped") $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
}

crate wisp-footprint "wisp = { path = \"$repo\", default-features = false }" <<'RS'
use std::time::Duration;

fn main() {
    wisp::block_on(async {
        // Refused or not, the connect path is linked in; 127.0.0.1 only.
        let stream = wisp::net::TcpStream::connect("127.0.0.1:9").await;
        wisp::time::sleep(Duration::from_millis(1)).await;
        println!("{}", stream.is_ok());
    });
}
RS
set -- $(size wisp-footprint)
wisp=$1 wisp_s=$2
echo "stripped: $wisp bytes ($((wisp / 1024)) KiB), built in $wisp_s s"
echo "crates: $(cd "$dir/wisp-footprint" && cargo tree --offline --prefix none --edges normal | sed 's/ (.*//' | sort -u | wc -l)"
[ "${WISP_FOOTPRINT_PEERS:-1}" = 0 ] && exit 0

crate smol-footprint 'smol = "2"' <<'RS'
use std::time::Duration;

fn main() {
    smol::block_on(async {
        let stream = smol::net::TcpStream::connect("127.0.0.1:9").await;
        smol::Timer::after(Duration::from_millis(1)).await;
        println!("{}", stream.is_ok());
    });
}
RS
crate tokio-footprint 'tokio = { version = "1", features = ["rt", "net", "time"] }' <<'RS'
use std::time::Duration;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect("127.0.0.1:9").await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        println!("{}", stream.is_ok());
    });
}
RS
set -- $(size smol-footprint)
smol=$1 smol_s=$2
set -- $(size tokio-footprint)
tokio=$1 tokio_s=$2
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo
echo "| program | stripped bytes | wisp / it | release build | wisp / it |"
echo "|---|---|---|---|---|"
echo "| wisp (no default features) | $wisp | 1.00 | $wisp_s s | 1.00 |"
echo "| smol 2 | $smol | $(ratio "$wisp" "$smol") | $smol_s s | $(ratio "$wisp_s" "$smol_s") |"
echo "| tokio 1 (current_thread) | $tokio | $(ratio "$wisp" "$tokio") | $tokio_s s | $(ratio "$wisp_s" "$tokio_s") |"
