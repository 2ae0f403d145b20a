#!/usr/bin/env bash
# Build the Debian package of ccfs:
#
#   bash scripts/build-deb.sh      -> target/debian/ccfs_<version>_amd64.deb
#
# (under $CARGO_TARGET_DIR/debian when that is set). Installs cargo-deb
# with `cargo install` if it is missing. The package holds /usr/bin/ccfs,
# the unit ccfs.service (neither enabled nor started on install), the man
# page ccfs(8), bash/zsh/fish completions and /etc/default/ccfs. The man
# page and completions are generated from the CLI definition by the binary
# just built. The last line printed is the path of the .deb.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "cargo-deb is missing: installing it (cargo install cargo-deb --locked)" >&2
    cargo install cargo-deb --locked >&2
fi
# cargo-deb computes the library dependencies with dpkg-shlibdeps
if ! command -v dpkg-shlibdeps >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >&2
    else
        echo "dpkg-shlibdeps is missing: apt-get install dpkg-dev" >&2
        exit 1
    fi
fi

target=$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "cannot find cargo's target directory" >&2; exit 1; }

cargo build --release -p ccfs >&2
bin=$target/release/ccfs
out=$target/release/ccfs-deb
rm -rf "$out"
mkdir -p "$out"
"$bin" --generate-man | gzip -9n > "$out/ccfs.8.gz"
"$bin" --generate-completion bash > "$out/ccfs.bash"
"$bin" --generate-completion zsh > "$out/_ccfs"
"$bin" --generate-completion fish > "$out/ccfs.fish"

deb=$(cargo deb -p ccfs --no-build --strip | tail -n 1)
[ -f "$deb" ] || { echo "cargo deb did not report a package (got '$deb')" >&2; exit 1; }
echo "$deb"
