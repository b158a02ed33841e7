#!/bin/sh
# The footprint row of ../shared/TARGETS.md: the stripped size of a release program doing
# `block_on` + one `TcpStream::connect` + one sleep on bare wisp (no default features), and the
# crates it compiles. Builds a throwaway crate in a temporary directory against this checkout.
#
#   scripts/footprint.sh            # uses $CARGO_TARGET_DIR if set
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
[ -n "${KEEP_FOOTPRINT:-}" ] && echo "kept: $dir" || trap 'rm -rf "$dir"' EXIT
mkdir "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "wisp-footprint"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
wisp = { path = "$repo", default-features = false }

[workspace]
TOML
cat > "$dir/src/main.rs" <<'RS'
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
cd "$dir"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$dir/target}/release/wisp-footprint"
strip -o "$dir/stripped" "$bin"
bytes=$(stat -c %s "$dir/stripped")
echo "stripped: $bytes bytes ($((bytes / 1024)) KiB)"
echo "crates: $(cargo tree --prefix none --edges normal | sed 's/ (.*//' | sort -u | wc -l)"
