# Shared by demo.sh and test.sh: find Python >= 3.11, make .venv, install forewarn into it.
# Sourced, not run. Needs: bash, a Debian/Ubuntu-like system (apt-get) for anything missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FOREWARN_VENV:-$ROOT/.venv}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root for: $*" >&2; return 1; fi; }

apt_install() {  # apt_install PKG... — only what is missing
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then echo "$py"; return 0; fi
  done
  return 1
}

ensure_venv() {  # ensure_venv EXTRAS  (e.g. "" or "[test]")
  local py
  if ! py="$(find_python)"; then
    apt_install python3.11 python3.11-venv || apt_install python3 python3-venv
    py="$(find_python)" || { echo "forewarn needs Python >= 3.11" >&2; exit 1; }
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$py" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install "$(basename "$py")-venv" 2>/dev/null || apt_install python3-venv
      "$py" -m venv "$VENV"
    fi
  fi
  local stamp="$VENV/.forewarn-installed$1" want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing forewarn$1 into $VENV ..." >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$1" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/python" -c "import forewarn.daemon, forewarn.eta, forewarn.devices" || { echo "install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
  fi
}
