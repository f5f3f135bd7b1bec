# Shared by scripts/test and scripts/develop: find Python >= 3.13 and keep .venv current.
# Sourced, not run. Sets VENV and PY.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.requirements.sha256"

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

requirements_hash() {
  cat "$ROOT/requirements_test.txt" "$@" | sha256sum | cut -d' ' -f1
}

ensure_venv() {
  # Extra requirement files (the demo's) join the hash, so the venv is rebuilt when any changes.
  local want
  want="$(requirements_hash "$@")"
  if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    return 0
  fi
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
  echo "Installing test requirements into .venv"
  local args=(-r "$ROOT/requirements_test.txt")
  local extra
  for extra in "$@"; do args+=(-r "$extra"); done
  "$PY" -m pip install --quiet "${args[@]}"
  echo "$want" > "$STAMP"
}
