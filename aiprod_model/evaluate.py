"""Held-out evaluation (the `evaluate` stage): diffusion validation loss and VAE reconstruction per tier.

The held-out clips are the project's one held-out split (`shards.curriculum.heldout_split`,
params `train.vae_holdout` / `train.holdout_min_per_tier`): neither the VAE nor the diffusion
model ever trained on them.  Per tier, up to `eval.max_clips_per_tier` of them (lowest clip_id
hash first) are read straight from the shard tars and cut into `eval.windows_per_clip` fixed
windows (evenly spaced starts, `loader.frames` x `loader.size` like training).

* diffusion validation loss: for every window and every t in `eval.timesteps`, the v-prediction
  MSE of the diffusion model (EMA weights by default, `eval.weights`) on the VAE latent noised
  with a fixed draw: the noise of (clip, window, timestep) comes from its own generator seeded
  by (eval.noise_seed, clip_id, window, timestep index), so it does not depend on the batch,
  the other clips or the run.  Captions are kept whenever a clip has one (no CFG drop);
  flow conditioning is fed when the model was trained with it.
* VAE reconstruction: SSIM and PSNR of the posterior-mean reconstruction of every window.

A clip's figure is the mean over its windows (and timesteps); a tier's is the mean over its
clips; `overall` is the mean over all held-out clips, `loss_tier_mean` the mean of the tier
means.  Everything runs in float32 without autocast (deterministic cuDNN on a GPU): the same
checkpoint and params give the same numbers.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aiprod_model.batches import fit_video
from aiprod_model.checkpoint import CheckpointError, load_checkpoint
from aiprod_model.diffusion import q_sample, resample_curve
from aiprod_model.metrics import psnr, ssim
from aiprod_model.params import DiffusionParams, EvalParams
from aiprod_model.presets import ResolvedModel
from aiprod_model.runtime import stable_hash
from aiprod_model.vae import VideoVAE
from curation.config import Params
from shards.curriculum import HeldOut

log = logging.getLogger(__name__)

TIERS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class HeldOutWindow:
    clip_id: str
    tier: int
    window: int  # index of the window within its clip
    video: torch.Tensor  # (T, 3, S, S) in [-1, 1]
    text_emb: torch.Tensor  # (D,)
    has_text: bool
    flow_curve: torch.Tensor | None  # (L,) as the loader yields it (None when loader.flow_curve_length = 0)


# --------------------------------------------------------------------------- reading the held-out clips
def _read_members(path: Path, keys: set[str]) -> dict[str, dict[str, bytes]]:
    """{key: {member suffix: bytes}} for the wanted keys of one shard tar."""
    out: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path, "r:") as tf:
        for info in tf:
            name = info.name.rsplit("/", 1)[-1]
            key, _, suffix = name.partition(".")
            if key in keys and info.isfile():
                fh = tf.extractfile(info)
                assert fh is not None
                out.setdefault(key, {})[suffix] = fh.read()
    return out


def read_heldout(params: Params, heldout: HeldOut, shards_dir: str | Path, *, max_per_tier: int, windows: int) -> list[HeldOutWindow]:
    """The fixed held-out windows: per tier the first `max_per_tier` held-out clips (lowest hash
    first), `windows` evenly spaced windows each, in (tier, clip, window) order."""
    from shards.curriculum import tier_keys
    from shards.decode import ShortClip, decode_windows, to_model_range
    from shards.manifest import read_manifest, shard_path, tier_shards

    root = Path(shards_dir)
    manifest = read_manifest(root)
    text_dim = int(manifest["text_dim"])
    lp = params.loader
    out: list[HeldOutWindow] = []
    for tier in TIERS:
        wanted = list(heldout.clips.get(tier, ()))[:max_per_tier]
        if not wanted:
            continue
        rank_of = {k: r for r, k in enumerate(tier_keys(manifest, root, tier))}
        members: dict[str, dict[str, bytes]] = {}
        for e in tier_shards(manifest, tier):
            lo, hi = int(e["first_index"]), int(e["first_index"]) + int(e["samples"])
            here = {k for k in wanted if lo <= rank_of[k] < hi}
            if here:
                members.update(_read_members(shard_path(root, e), here))
        for cid in wanted:
            m = members.get(cid)
            if m is None or "mp4" not in m or "json" not in m:
                raise CheckpointError(f"held-out clip {cid} (tier {tier}) is missing from the shards of {root}")
            meta = json.loads(m["json"])
            try:
                wins = decode_windows(m["mp4"], frames=lp.frames, stride=lp.frame_stride, size=lp.size, count=windows,
                                      short_clips=lp.short_clips, threads=lp.decode_threads)
            except ShortClip as exc:
                log.warning("evaluate: held-out clip %s skipped: %s", cid, exc)
                continue
            emb = np.load(io.BytesIO(m["npy"]), allow_pickle=False).astype(np.float32).reshape(-1) if "npy" in m else np.zeros(text_dim, np.float32)
            curve = None
            if lp.flow_curve_length > 0:
                c = np.zeros(lp.flow_curve_length, dtype=np.float32)
                if "flow.npy" in m:
                    raw = np.load(io.BytesIO(m["flow.npy"]), allow_pickle=False).astype(np.float32).reshape(-1)[: lp.flow_curve_length]
                    c[: len(raw)] = raw
                curve = torch.from_numpy(c)
            for w, (arr, _valid) in enumerate(wins):
                out.append(HeldOutWindow(cid, tier, w, torch.from_numpy(to_model_range(arr)), torch.from_numpy(emb.copy()),
                                         bool(meta.get("has_text_embedding", False)), curve))
    return out


def heldout_batches(items: list[HeldOutWindow], batch_size: int) -> list[dict[str, Any]]:
    """The windows as loader-style batches (video, text_emb, has_text, clip_id, tier)."""
    out = []
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        out.append({
            "video": torch.stack([w.video for w in chunk]),
            "text_emb": torch.stack([w.text_emb for w in chunk]),
            "has_text": torch.tensor([w.has_text for w in chunk]),
            "clip_id": [w.clip_id for w in chunk],
            "tier": torch.tensor([w.tier for w in chunk]),
        })
    return out


def first_per_clip(items: list[HeldOutWindow], limit: int) -> list[HeldOutWindow]:
    """One window per clip (the middle one), tiers taken in turn, at most `limit` clips."""
    by_clip: dict[str, list[HeldOutWindow]] = {}
    for w in items:
        by_clip.setdefault(w.clip_id, []).append(w)
    per_tier: dict[int, list[HeldOutWindow]] = {}
    for ws in by_clip.values():
        per_tier.setdefault(ws[0].tier, []).append(ws[len(ws) // 2])
    out: list[HeldOutWindow] = []
    depth = max((len(v) for v in per_tier.values()), default=0)
    for i in range(depth):
        for t in sorted(per_tier):
            if i < len(per_tier[t]) and len(out) < limit:
                out.append(per_tier[t][i])
    return out


# --------------------------------------------------------------------------- models
def load_backbone(diffusion_dir: str | Path, weights: str = "ema", device: torch.device | str = "cpu"):
    """(backbone with the checkpoint's EMA or raw weights, in eval mode, manifest) of a run
    directory or of one checkpoint directory (checkpoints/step-NNNNNNNN)."""
    from aiprod_model.diffusion_trainer import build_backbone

    name = "ema" if weights == "ema" else "model"
    files, manifest = load_checkpoint(diffusion_dir, [name])
    meta = manifest["meta"]
    resolved = ResolvedModel.from_json(meta["model"])
    dp = DiffusionParams.model_validate(meta["diffusion"])
    model = build_backbone(resolved, dp.flow_bins)
    model.load_state_dict(files[name])
    return model.to(device).eval(), manifest


def _deterministic(device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def noise_seed(seed: int, clip_id: str, window: int, t_index: int) -> int:
    """The seed of one (clip, window, timestep) noise draw: independent of batches and order."""
    return int(stable_hash(["eval-noise", seed, clip_id, window, t_index]), 16)


class Evaluator:
    """Scores held-out windows: VAE latents and reconstruction once, then any diffusion checkpoint."""

    def __init__(self, vae: VideoVAE, vae_manifest: dict[str, Any], items: list[HeldOutWindow], ep: EvalParams, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        _deterministic(self.device)
        self.vae = vae.to(self.device).eval().requires_grad_(False)
        self.vae_sha = vae_manifest["files"]["model"]["sha256"]
        self.scale_factor = float(vae_manifest["meta"].get("scale_factor") or 1.0)
        self.items = items
        self.ep = ep
        self._latents: dict[int, torch.Tensor] = {}  # keyed by the backbone's spatial multiple

    @torch.no_grad()
    def latents(self, spatial_multiple: int) -> torch.Tensor:
        """(N, Cz, T', H', W') posterior means x scale factor, as the diffusion trainer encodes."""
        if spatial_multiple not in self._latents:
            out = []
            for i in range(0, len(self.items), self.ep.batch_size):
                video = torch.stack([w.video for w in self.items[i : i + self.ep.batch_size]])
                video = fit_video(video, self.vae.temporal_down, spatial_multiple).to(self.device).float()
                out.append(self.vae.encode(video).mean.float().cpu() * self.scale_factor)
            self._latents[spatial_multiple] = torch.cat(out) if out else torch.zeros(0)
        return self._latents[spatial_multiple]

    @torch.no_grad()
    def reconstruction(self) -> list[tuple[float, float]]:
        """(SSIM, PSNR) of every window's posterior-mean reconstruction."""
        out = []
        for w in self.items:
            video = fit_video(w.video[None], self.vae.temporal_down, self.vae.spatial_down).to(self.device).float()
            recon = self.vae.decode(self.vae.encode(video).mean).float()
            out.append((float(ssim(recon, video)), float(psnr(recon, video))))
        return out

    @torch.no_grad()
    def diffusion_losses(self, model: torch.nn.Module, manifest: dict[str, Any]) -> np.ndarray:
        """(windows, timesteps) v-prediction MSE of `model` on the fixed noisy latents."""
        meta = manifest["meta"]
        if meta["vae"]["sha256"] != self.vae_sha:
            raise CheckpointError("the diffusion checkpoint was trained with another VAE than the one evaluated; re-run train_diffusion")
        dp = DiffusionParams.model_validate(meta["diffusion"])
        patch = ResolvedModel.from_json(meta["model"]).backbone.patch_size
        x0 = self.latents(self.vae.spatial_down * patch)
        ts = list(self.ep.timesteps)
        flow_on = dp.flow_guidance and dp.flow_strength > 0
        pairs = [(i, j) for i in range(len(self.items)) for j in range(len(ts))]
        out = np.zeros((len(self.items), len(ts)), dtype=np.float64)
        for k in range(0, len(pairs), self.ep.batch_size):
            chunk = pairs[k : k + self.ep.batch_size]
            x = torch.stack([x0[i] for i, _ in chunk])
            noise = torch.stack([
                torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(noise_seed(self.ep.noise_seed, self.items[i].clip_id, self.items[i].window, j)))
                for i, j in chunk
            ])
            t = torch.tensor([ts[j] for _, j in chunk], dtype=torch.float32)
            z, v = q_sample(x, t, noise)
            text = torch.stack([self.items[i].text_emb for i, _ in chunk]).to(self.device)
            keep = torch.tensor([self.items[i].has_text for i, _ in chunk], device=self.device)
            flow = None
            if flow_on:
                curves = [self.items[i].flow_curve for i, _ in chunk]
                if any(c is None for c in curves):
                    raise ValueError("the model was trained with flow guidance but loader.flow_curve_length is 0")
                flow = resample_curve(torch.stack(curves), dp.flow_bins).to(self.device)  # type: ignore[arg-type]
            pred = model(z.to(self.device), t.to(self.device), model.text_or_null(text, keep), flow=flow, flow_strength=dp.flow_strength)
            mse = F.mse_loss(pred.float().cpu(), v.float(), reduction="none").flatten(1).mean(1)
            for (i, j), m in zip(chunk, mse.tolist(), strict=True):
                out[i, j] = m
        return out


def _mean(xs: list[float]) -> float | None:
    return float(sum(xs) / len(xs)) if xs else None


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def summarize(items: list[HeldOutWindow], losses: np.ndarray | None, recon: list[tuple[float, float]] | None, timesteps: list[float],
              heldout: HeldOut) -> dict[str, Any]:
    """Per-tier and overall figures (clip means first, then tier means); no NaN, fixed key order."""
    clips: dict[str, list[int]] = {}
    for i, w in enumerate(items):
        clips.setdefault(w.clip_id, []).append(i)
    tiers: dict[str, Any] = {}
    clip_loss: dict[str, float] = {}
    clip_ssim: dict[str, float] = {}
    clip_psnr: dict[str, float] = {}
    for cid, idx in clips.items():
        if losses is not None:
            clip_loss[cid] = float(losses[idx].mean())
        if recon is not None:
            clip_ssim[cid] = float(np.mean([recon[i][0] for i in idx]))
            clip_psnr[cid] = float(np.mean([recon[i][1] for i in idx]))
    for t in TIERS:
        ids = [c for c, idx in clips.items() if items[idx[0]].tier == t]
        n_held = len(heldout.clips.get(t, ()))
        if not ids:
            why = "no held-out clip (a tier never gives up its last training clip)" if n_held == 0 else "no decodable held-out window"
            tiers[str(t)] = {"clips": 0, "heldout_clips": n_held, "note": why}
            continue
        idx_all = [i for c in ids for i in clips[c]]
        entry: dict[str, Any] = {"clips": len(ids), "heldout_clips": n_held, "windows": len(idx_all)}
        if losses is not None:
            entry["loss"] = _r(_mean([clip_loss[c] for c in ids]))
            entry["loss_by_t"] = {f"t{ts:g}": _r(_mean([float(losses[clips[c], j].mean()) for c in ids])) for j, ts in enumerate(timesteps)}
        if recon is not None:
            entry["ssim"] = _r(_mean([clip_ssim[c] for c in ids]))
            entry["psnr"] = _r(_mean([clip_psnr[c] for c in ids]))
        tiers[str(t)] = entry
    overall: dict[str, Any] = {"clips": len(clips), "windows": len(items)}
    scored = [e for e in tiers.values() if e["clips"]]
    if losses is not None and clips:
        overall["loss"] = _r(_mean(list(clip_loss.values())))
        overall["loss_tier_mean"] = _r(_mean([e["loss"] for e in scored]))
    if recon is not None and clips:
        overall["ssim"] = _r(_mean(list(clip_ssim.values())))
        overall["psnr"] = _r(_mean(list(clip_psnr.values())))
    return {"overall": overall, "tiers": tiers}


def evaluate_run(params: Params, heldout: HeldOut, shards_dir: str | Path, vae_dir: str | Path, diffusion_dir: str | Path,
                 device: torch.device | str = "cpu") -> dict[str, Any]:
    """The evaluate stage's document (metrics/eval.json) for one trained run."""
    from aiprod_model.vae_trainer import load_vae

    ep = params.eval
    dev = torch.device(device)
    vae, vae_man = load_vae(vae_dir, dev)
    model, man = load_backbone(diffusion_dir, ep.weights, dev)
    digest = heldout.digest()
    for what, m in (("VAE", vae_man), ("diffusion model", man)):
        trained = m["meta"].get("heldout")
        if trained != digest:
            raise CheckpointError(f"the {what} was trained with another held-out split ({trained}) than this shard set's ({digest}); "
                                  "its evaluation could score clips it trained on: re-run the training stages")
    items = read_heldout(params, heldout, shards_dir, max_per_tier=ep.max_clips_per_tier, windows=ep.windows_per_clip)
    ev = Evaluator(vae, vae_man, items, ep, dev)
    losses = ev.diffusion_losses(model, man)
    recon = ev.reconstruction()
    body = summarize(items, losses, recon, list(ep.timesteps), heldout)
    meta = man["meta"]
    return {
        "overall": body["overall"],
        "tiers": body["tiers"],
        "diffusion": {"step": int(man["step"]), "completed": bool(meta.get("completed")), "curriculum_order": meta.get("curriculum_order"), "weights": ep.weights},
        "heldout": {"fraction": heldout.fraction, "min_per_tier": heldout.min_per_tier, "split": digest,
                    "clips": {str(t): len(heldout.clips.get(t, ())) for t in TIERS}},
        "settings": {"timesteps": list(ep.timesteps), "noise_seed": ep.noise_seed, "windows_per_clip": ep.windows_per_clip,
                     "max_clips_per_tier": ep.max_clips_per_tier, "frames": params.loader.frames, "size": params.loader.size},
    }
