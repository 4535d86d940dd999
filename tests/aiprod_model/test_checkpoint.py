import json
import pickle
from pathlib import Path

import pytest
import torch

from aiprod_model.backbone import HybridBackbone
from aiprod_model.checkpoint import CheckpointError, flatten_optimizer, load_checkpoint, load_tensors, read_manifest, unflatten_optimizer, write_checkpoint
from aiprod_model.presets import resolve
from curation.io.hashing import sha256_file
from tests.aiprod_model.conftest import TEXT_DIM

PKG = Path(__file__).resolve().parents[2] / "aiprod_model"


def _model(params):
    torch.manual_seed(0)
    r = resolve(params.model)
    m = HybridBackbone(r.backbone, r.vae.latent_channels)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return m, r


def test_round_trip_gives_identical_outputs(params, tmp_path):
    m, r = _model(params)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    z, t, text = torch.randn(2, r.vae.latent_channels, 2, 4, 4), torch.rand(2), torch.randn(2, TEXT_DIM)
    m(z, t, text).pow(2).mean().backward()
    opt.step()
    opt_t, opt_meta = flatten_optimizer(opt.state_dict())
    ck = write_checkpoint(tmp_path, 7, {"model": m.state_dict(), "optimizer": opt_t}, {"optimizer": opt_meta, "note": "x"})
    assert ck.name == "step-00000007"
    man = read_manifest(tmp_path)
    assert man["step"] == 7 and man["meta"]["note"] == "x"
    for entry in man["files"].values():
        assert sha256_file(tmp_path / entry["path"]) == entry["sha256"]
    files, _ = load_checkpoint(tmp_path)
    m2, _ = _model(params)
    for p in m2.parameters():
        torch.nn.init.zeros_(p)
    m2.load_state_dict(files["model"])
    with torch.no_grad():
        assert torch.equal(m.eval()(z, t, text), m2.eval()(z, t, text))
    opt2 = torch.optim.AdamW(m2.parameters(), lr=1e-3)
    opt2.load_state_dict(unflatten_optimizer(files["optimizer"], json.loads(json.dumps(opt_meta))))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"][0]["lr"] == b["param_groups"][0]["lr"]
    for pid, st in a["state"].items():
        for k, v in st.items():
            assert torch.equal(v, b["state"][pid][k])


def test_keeps_newest_checkpoints_and_tamper_is_detected(tmp_path):
    for step in (1, 2, 3):
        write_checkpoint(tmp_path, step, {"model": {"w": torch.full((3,), float(step))}}, {}, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000002", "step-00000003"]
    files, man = load_checkpoint(tmp_path)
    assert files["model"]["w"].tolist() == [3.0, 3.0, 3.0]
    (tmp_path / man["files"]["model"]["path"]).write_bytes(b"tampered")
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path)


def test_only_safetensors_are_loaded(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError, match="only .safetensors"):
        load_tensors(bad)
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(pickle.dumps({"w": 1}))  # a pickle with the right suffix is still refused
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_tensors(fake)
    # a manifest may not point outside the run or at other formats
    write_checkpoint(tmp_path / "run", 1, {"model": {"w": torch.zeros(1)}}, {})
    man = json.loads((tmp_path / "run" / "manifest.json").read_text())
    for path in ("../weights.pt", "/etc/passwd", "checkpoints/x.bin"):
        man["files"]["model"]["path"] = path
        (tmp_path / "run" / "manifest.json").write_text(json.dumps(man))
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / "run")


def test_package_never_unpickles():
    for src in sorted(PKG.rglob("*.py")):
        text = src.read_text(encoding="utf-8")
        for banned in ("torch.load(", "pickle.load", "import pickle", "allow_pickle=True"):
            assert banned not in text, f"{src.name} uses {banned}"
