#!/usr/bin/env bash
# Checks that every C/C++ source of the project is formatted as .clang-format
# says (Debian 12's clang-format 14). With --fix, formats them in place.
# Run by ctest (test "format") and so by ./scripts/test.sh and CI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
clang_format="${CLANG_FORMAT:-clang-format}"
if ! command -v "$clang_format" >/dev/null; then
  echo "check-format: $clang_format not found (scripts/install-deps.sh installs clang-format)" >&2
  exit 2
fi
# The project's C and C++ files: tracked ones in a git checkout, else all
# under the source folders (a tarball).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.cpp' '*.h' | grep -v '^shaders/')
else
  mapfile -t files < <(find api runtime ops tools tests -name '*.c' -o -name '*.cpp' -o -name '*.h')
fi
if [ "${1:-}" = "--fix" ]; then
  "$clang_format" -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -ne 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not formatted as .clang-format says:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "first differences:" >&2
  "$clang_format" --dry-run "${bad[0]}" 2>&1 | head -20 >&2
  echo "fix with: ./scripts/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
