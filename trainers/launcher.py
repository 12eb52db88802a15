"""Start ``trainers.sft`` as a detached process: plain python on one device, ``accelerate launch`` on
several GPUs (optionally DeepSpeed ZeRO-2). The process gets its own session (a new process group),
so closing the app or the terminal does not end it, and cancel reaches every rank with one signal to
the group. stdout and stderr go to the run's ``log.txt``.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from studio.core import i18n

ROOT = Path(__file__).resolve().parent.parent
DEEPSPEED_CONFIG = "trainers/deepspeed_zero2.yaml"  # relative to ROOT, the processes' working folder


def command(config_path: str | Path, *, num_processes: int = 1, deepspeed: bool = False,
            python: str | None = None) -> list[str]:
    """The command line that trains one run.

    >>> command("runs/a/config.json", python="python")
    ['python', '-m', 'trainers.sft', 'runs/a/config.json']
    >>> command("runs/a/config.json", num_processes=2, python="python")[1:]
    ['launch', '--num_processes', '2', '--multi_gpu', '-m', 'trainers.sft', 'runs/a/config.json']
    """
    python = python or sys.executable
    config = str(config_path)
    if num_processes <= 1:
        return [python, "-m", "trainers.sft", config]
    cmd = [accelerate_bin(python), "launch", "--num_processes", str(num_processes)]
    if deepspeed:
        cmd += ["--config_file", DEEPSPEED_CONFIG]
    else:
        cmd += ["--multi_gpu"]
    return cmd + ["-m", "trainers.sft", config]


def accelerate_bin(python: str | None = None) -> str:
    """The ``accelerate`` script of the environment ``python`` belongs to (else the one on PATH)."""
    beside = Path(python or sys.executable).parent / "accelerate"
    return str(beside) if beside.exists() else "accelerate"


def shown(cmd: list[str]) -> str:
    """The command as a person would type it in the studio's environment."""
    words = list(cmd)
    if words and words[0] == sys.executable:
        words[0] = "python"
    elif words and Path(words[0]).name == "accelerate":
        words[0] = "accelerate"
    return shlex.join(words)


SECRET_NAMES = ("OPENAI_API_KEY", "STUDIO_PASSWORD", "STUDIO_TOKEN")


def _secret(name: str) -> bool:
    """Keys the trainer never needs (LLM endpoints, the studio's own sign-in); HF_TOKEN stays for hub models."""
    declared = os.environ.get("STUDIO_API_KEY_ENV", "OPENAI_API_KEY")
    return name in SECRET_NAMES or name == declared or name.endswith("_API_KEY")


def launch(cmd: list[str], run_dir: str | Path, *, gpus: str = "", env: dict | None = None) -> subprocess.Popen:
    """Start ``cmd`` detached (own session), logging to ``run_dir/log.txt``; return the Popen."""
    run_dir = Path(run_dir)
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if not _secret(k)}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p)
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.setdefault("TOKENIZERS_PARALLELISM", "false")
    full_env["STUDIO_LANG"] = i18n.current()  # its messages in the language of the person who started it
    if gpus:
        full_env["CUDA_VISIBLE_DEVICES"] = gpus
    with open(run_dir / "log.txt", "ab") as log:
        log.write(f"$ {shown(cmd)}\n".encode())
        log.flush()
        return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(pid: int, sig: int = signal.SIGTERM) -> bool:
    """Signal a launched run's whole process group (every rank); False when it is gone."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

