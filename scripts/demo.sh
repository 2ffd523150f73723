#!/usr/bin/env bash
# The collector's whole job on the samples: `nianbao demo` does it (also from an installed
# package, without this repository); this script only names the folder `make demo` uses.
set -euo pipefail
cd "$(dirname "$0")/.."
exec nianbao demo "${1:-demo-workspace}"
