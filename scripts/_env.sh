# Shared by scripts/test and scripts/develop: find the Python each test leg needs and keep
# that leg's virtual environment current. Sourced, not run.
#
# Two legs prove the supported range on every run (see CONTRIBUTING.md, "Test legs"):
#   newest  .venv      Python 3.14, requirements_test.txt      (lint, mypy, tests, the demo)
#   min     .venv-min  Python 3.13, requirements_test_min.txt  (tests)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

leg_venv() { if [ "$1" = newest ]; then echo "$ROOT/.venv"; else echo "$ROOT/.venv-min"; fi; }
leg_requirements() {
  if [ "$1" = newest ]; then echo "$ROOT/requirements_test.txt"; else echo "$ROOT/requirements_test_min.txt"; fi
}
# The Python minor version a leg runs on, and the lowest patch release it accepts.
leg_python() { if [ "$1" = newest ]; then echo "3.14 2"; else echo "3.13 0"; fi; }

# Print the real path of an interpreter for the leg's Python minor version, or fail.
# A venv made from a symlinked interpreter outside its prefix cannot find its standard
# library, so the venv is always made from the interpreter's real path.
find_python() {
  local minor patch candidate version
  read -r minor patch <<<"$(leg_python "$1")"
  local check="import os, sys; v = sys.version_info; sys.exit(1) if (v.major, v.minor) != tuple(map(int, '$minor'.split('.'))) or v.micro < $patch else print(os.path.realpath(sys.executable))"
  if command -v "python$minor" >/dev/null 2>&1 && candidate="$("python$minor" -c "$check" 2>/dev/null)"; then
    echo "$candidate"; return 0
  fi
  # pyenv may know the version without it being the active one.
  if command -v pyenv >/dev/null 2>&1; then
    version="$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)"
    if [ -n "$version" ] && candidate="$("$(pyenv root)/versions/$version/bin/python$minor" -c "$check" 2>/dev/null)"; then
      echo "$candidate"; return 0
    fi
  fi
  return 1
}

have_leg_python() { find_python "$1" >/dev/null; }

# ensure_venv LEG [extra requirement files...]: create the leg's venv if missing and install
# each requirement file whose content changed since it was last installed (one stamp per file,
# so switching between scripts/test and scripts/develop installs nothing).
ensure_venv() {
  local leg="$1"; shift
  local venv; venv="$(leg_venv "$leg")"
  if [ ! -x "$venv/bin/python" ]; then
    local python minor
    read -r minor _ <<<"$(leg_python "$leg")"
    if ! python="$(find_python "$leg")"; then
      echo "error: the $leg test leg needs Python $minor, and none was found." >&2
      echo "Install it (your distribution's python$minor and python$minor-venv, or 'pyenv install $minor')" >&2
      echo "and run this again." >&2
      return 1
    fi
    echo "Creating $(basename "$venv") with $python (the first install takes several minutes)"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
  fi
  local file want stamp
  for file in "$(leg_requirements "$leg")" "$@"; do
    want="$(sha256sum "$file" | cut -d' ' -f1)"
    stamp="$venv/.installed-$(basename "$file").sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      continue
    fi
    echo "Installing $(basename "$file") into $(basename "$venv")"
    # pip's notes about unused local index folders are noise on some machines.
    "$venv/bin/python" -m pip install --quiet -r "$file" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    echo "$want" > "$stamp"
  done
}
