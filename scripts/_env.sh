# Shared by scripts/test and scripts/develop: find Python >= 3.13 and keep .venv current.
# Sourced, not run. Sets VENV and PY.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

find_python() {
  local candidate
  for candidate in python3.14 python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  # pyenv may know a 3.13 that is not the active version.
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[3-9]' | sort -V | tail -n 1 || true)"
    if [ -n "$version" ]; then
      echo "$(pyenv root)/versions/$version/bin/python${version%.*}"; return 0
    fi
  fi
  return 1
}

ensure_venv() {
  # requirements_test.txt always, plus any extra requirement files (the demo's).
  # Each file has its own stamp, so switching between scripts/test and
  # scripts/develop reinstalls nothing; a changed file is installed again.
  if [ ! -x "$PY" ]; then
    local python
    if ! python="$(find_python)"; then
      echo "error: Python 3.13 or newer is required (Home Assistant 2025.x)." >&2
      echo "Install it (for example 'pyenv install 3.13.0', or your distribution's python3.13 and python3.13-venv) and run this again." >&2
      exit 1
    fi
    echo "Creating $VENV with $python (the first install takes several minutes)"
    "$python" -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
  fi
  local file want stamp
  for file in "$ROOT/requirements_test.txt" "$@"; do
    want="$(sha256sum "$file" | cut -d' ' -f1)"
    stamp="$VENV/.installed-$(basename "$file").sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      continue
    fi
    echo "Installing $(basename "$file") into .venv"
    "$PY" -m pip install --quiet -r "$file"
    echo "$want" > "$stamp"
  done
}
