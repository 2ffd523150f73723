#!/usr/bin/env bash
# The collector's whole job on the samples: `nianbao demo` does it (also from an installed
# package, without this repository); this script only names the folder `make demo` uses.
set -euo pipefail
cd "$(dirname "$0")/.."
WS="${1:-demo-workspace}"
# a demo-workspace this script made before `nianbao demo` marked its folders: replaced too
if [ -z "${1:-}" ] && [ -f "$WS/nianbao.toml" ] && [ ! -e "$WS/.nianbao/demo" ]; then
  rm -rf "$WS"
fi
exec nianbao demo "$WS"
