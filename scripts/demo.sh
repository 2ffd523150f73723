#!/usr/bin/env bash
# The collector's whole job on samples/: a workspace, distribution, collection of the
# returned files (LibreOffice-saved, good and bad), status, feedback, totals, the report.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=demo-workspace

run() { echo; echo "\$ $*"; "$@"; }
# collect and check exit 1/2 when some files have errors: expected here, the samples
# include bad returns on purpose.
run_findings() { echo; echo "\$ $*"; set +e; "$@"; rc=$?; set -e
  if [ "$rc" -gt 2 ]; then echo "failed with exit $rc" >&2; exit "$rc"; fi; }

rm -rf "$WS"
# The sample workspace holds the demo signing key the sample returns were issued with.
cp -r samples/workspace "$WS"
run nianbao distribute -w "$WS"
run_findings nianbao check samples/returns/区文化和广电旅游体育局-2022.xlsx
run_findings nianbao collect -w "$WS" samples/returns --received-at 2023-01-15T10:00
run nianbao status -w "$WS" --as-of 2023-01-31 --csv "$WS/催报名单.csv"
if nianbao merge --help >/dev/null 2>&1; then
  run_findings nianbao merge -w "$WS" -o "$WS/汇总-2022.xlsx"
  run nianbao report -w "$WS" --merged --publisher 青溪区人民政府 -o "$WS/年度报告-汇总-2022.docx"
fi
echo
echo "反馈表和回执：$WS/feedback/；催报名单：$WS/催报名单.csv"
