#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) with actionlint, which also passes
# their `run:` blocks to shellcheck when it is on PATH. These machines cannot run the workflows
# (macOS, Windows), so this is the check they get here.
#
# actionlint is installed, pinned, into .cache/go-bin with `go install` when missing.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
actionlint_version=v1.7.12
bin="$repo/.cache/go-bin"
actionlint="$bin/actionlint"

if ! "$actionlint" -version 2>/dev/null | grep -qx "$actionlint_version"; then
  echo "== workflow-check: installing actionlint $actionlint_version into $bin" >&2
  go="$(command -v go || echo /usr/local/go/bin/go)"
  GOBIN="$bin" "$go" install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
fi
command -v shellcheck >/dev/null \
  || echo "== workflow-check: shellcheck not found; run: blocks go unchecked" >&2

cd "$repo"
shopt -s nullglob
workflows=(.github/workflows/*.yml)
[ ${#workflows[@]} -gt 0 ] || { echo "FAIL: no workflows in .github/workflows" >&2; exit 1; }
"$actionlint" "${workflows[@]}"
echo "ok      actionlint $actionlint_version: ${workflows[*]}"
