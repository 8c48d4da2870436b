#!/usr/bin/env bash
# Run a recipe whose library cannot share marec's main environment, in a venv of its own.
#
#   examples/run_in_venv.sh rllib [recipe args...]       # examples/rllib_ppo.py
#   examples/run_in_venv.sh benchmarl [recipe args...]   # examples/benchmarl_marec.py
#
# The venv lives in $MAREC_VENVS (default: .venvs/ in the checkout) and is built once:
# torch==2.13.0 first (so the library cannot pull another torch), then marec (-e), then
# examples/requirements-<library>.txt. Set PYTHON to choose the interpreter.
set -euo pipefail

usage="usage: $0 {rllib|benchmarl} [recipe args...]"
library="${1:?$usage}"
shift
case "$library" in
  rllib) recipe=rllib_ppo.py ;;
  benchmarl) recipe=benchmarl_marec.py ;;
  *) echo "unknown library '$library'; $usage" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MAREC_VENVS:-$root/.venvs}/$library"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.marec-ready" ]; then
  echo "creating $venv" >&2
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
  # Hold torch there: an unpinned torchvision (BenchMARL's) would otherwise pull a newer one.
  echo "torch==2.13.0" > "$venv/torch-constraint.txt"
  "$venv/bin/python" -m pip install --quiet -c "$venv/torch-constraint.txt" -e "$root"
  "$venv/bin/python" -m pip install --quiet -c "$venv/torch-constraint.txt" \
    -r "$root/examples/requirements-$library.txt"
  touch "$venv/.marec-ready"
fi
"$venv/bin/python" -m pip list 2>/dev/null | grep -i -E "^(torch|torchrl|tensordict|ray|benchmarl|gymnasium|pettingzoo) " >&2 || true
cd "$root"
exec "$venv/bin/python" "examples/$recipe" "$@"
