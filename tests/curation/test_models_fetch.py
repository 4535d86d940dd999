"""`curation models fetch`: refuses at once offline (HF_HUB_OFFLINE, an endpoint that refuses, one that never
answers), without touching the real Hub; verifies local models and prints the params to set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env) -> tuple[subprocess.CompletedProcess, float]:
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT")}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "models", "fetch", *args], capture_output=True, text=True, cwd=ROOT, env=clean | env, timeout=120)
    return proc, time.perf_counter() - t


def test_offline_mode_refuses_at_once(tmp_path):
    proc, seconds = _run(["--params", str(tmp_path / "none.yaml")], HF_HUB_OFFLINE="1")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "cannot download: clip and captioner would be downloaded, but HF_HUB_OFFLINE=1 is set (offline mode)" in proc.stderr
    assert "run it once on a machine with internet access" in proc.stderr
    assert seconds < 20  # the check runs before params, torch or any model is loaded


def test_unreachable_endpoint_refuses_fast(tmp_path):
    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, seconds = _run(["captioner", "--params", str(tmp_path / "none.yaml"), "--timeout", "5"], HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert proc.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port} within 5 s (ConnectError" in proc.stderr
    assert seconds < 30


def test_silent_endpoint_times_out(tmp_path):
    """A server that accepts the connection and never answers: the --timeout bounds the wait (no retries)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # connections queue in the backlog; nothing is ever read or answered
        port = server.getsockname()[1]
        proc, seconds = _run(["clip", "captioner", "--params", str(tmp_path / "none.yaml"), "--timeout", "2"], HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert proc.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port} within 2 s" in proc.stderr and "Timeout" in proc.stderr
    assert proc.stderr.count("cannot reach") == 1  # the second target is not tried against a dead network
    assert seconds < 30


def test_unknown_target(tmp_path):
    proc, _ = _run(["weights"], HF_HUB_OFFLINE="1")
    assert proc.returncode == 2 and "unknown target(s) ['weights']" in proc.stderr


@pytest.mark.slow
def test_local_models_are_verified_and_params_printed(tmp_path, capsys):
    """model_id / pretrained already local: nothing is downloaded (so the tests' HF_HUB_OFFLINE=1 does not
    stop it), both load the way the stages load them, and the printed params point at them."""
    import open_clip
    import torch

    from curation.caption.captioner import load_captioner
    from curation.cli import main
    from curation.config import CaptionerParams

    tiny = load_captioner(CaptionerParams(kind="vlm", tiny_config="smolvlm", allow_random_init=True, precision="fp32"))
    model_dir = tmp_path / "smol"
    tiny.model.save_pretrained(model_dir)
    tiny.processor.save_pretrained(model_dir)
    torch.manual_seed(0)
    ckpt = tmp_path / "clip.pt"
    torch.save({k: v.to(torch.bfloat16) for k, v in open_clip.create_model("ViT-S-32", pretrained=None).state_dict().items()}, ckpt)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "caption": {"captioner": {"kind": "vlm", "model_id": str(model_dir), "precision": "fp32"}},
        "score": {"clip": {"model": "ViT-S-32", "pretrained": str(ckpt)}},
    }))  # fmt: skip

    assert main(["models", "fetch", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "model_id is a local directory: nothing downloaded" in out and "score.clip.pretrained is a local file: nothing downloaded" in out
    assert "loads as pretrained (smolvlm" in out and f"loads as checkpoint:{ckpt}" in out
    printed = yaml.safe_load(out.split("(rows will then record real weights):\n", 1)[1])
    assert printed["caption"]["captioner"] == {"kind": "vlm", "model_id": str(model_dir), "local_files_only": True}
    assert printed["score"]["clip"] == {"model": "ViT-S-32", "pretrained": str(ckpt), "allow_download": False, "allow_random_init": False}


@pytest.mark.slow
def test_a_local_dir_that_does_not_load_fails(tmp_path, capsys):
    from curation.cli import main

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"caption": {"captioner": {"kind": "vlm", "model_id": str(broken)}}}))
    assert main(["models", "fetch", "captioner", "--params", str(params)]) == 1
    assert "downloaded, but the captioner does not load: captioner weights not available" in capsys.readouterr().err
