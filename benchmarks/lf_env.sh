#!/usr/bin/env bash
# Install LLaMA-Factory 0.9.5 into its own venv (default bench_out/lf-venv, git-ignored) for the
# trainer benchmark's baseline. It pins transformers 5.6 / peft 0.18, so it cannot share our venv.
# Recipe (../shared/STACK.md): torch 2.13.0 first (CPU build from local disk), then llamafactory with
# torch pinned and torchvision capped; PyPI's torchvision fails to import beside this torch, so it is
# removed, and torchaudio is replaced by an empty module (only LF's audio plugin imports it).
# Idempotent: a venv whose llamafactory is 0.9.5 is left alone. Never fails `make bench`: on any
# error it says so and exits 0; the benchmark then reports the studio's figures only, ratio null.
#
#     bash benchmarks/lf_env.sh [VENV_DIR]
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/bench_out/lf-venv}"
PY="$VENV/bin/python"
CLI="$VENV/bin/llamafactory-cli"

if [ -x "$CLI" ] && "$PY" -c "import llamafactory, sys; sys.exit(llamafactory.__version__ != '0.9.5')" 2>/dev/null; then
    echo "LLaMA-Factory 0.9.5 ready in $VENV"
    exit 0
fi

install() {
    set -e
    mkdir -p "$(dirname "$VENV")"
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q torch==2.13.0
    local cons="$VENV/lf-constraints.txt"
    printf 'torch==2.13.0\ntorchvision<=0.29.1\n' > "$cons"
    "$PY" -m pip install -q -c "$cons" llamafactory==0.9.5
    "$PY" -m pip uninstall -q -y torchvision torchaudio || true
    local site
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    mkdir -p "$site/torchaudio"
    echo '"""Empty stand-in: LLaMA-Factory imports torchaudio only for audio inputs, unused here."""' \
        > "$site/torchaudio/__init__.py"
    "$PY" -c "import llamafactory; assert llamafactory.__version__ == '0.9.5'"
}

echo "installing LLaMA-Factory 0.9.5 into $VENV (several minutes) ..."
if (install); then
    echo "LLaMA-Factory 0.9.5 ready in $VENV"
else
    echo "LLaMA-Factory 0.9.5 could not be installed into $VENV; the trainer benchmark reports the studio only"
fi
exit 0
