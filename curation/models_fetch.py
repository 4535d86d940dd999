"""`curation models fetch [clip] [captioner] [--to DIR]`: the ONE command that downloads model weights.

Everything else in the project loads weights from the local cache or a local path and never
touches the network (see README, "Offline honesty").  This command, run once on a machine with
internet:

1. reads the model names from params.yaml (`score.clip.model` + `score.clip.pretrained`,
   `caption.captioner.model_id`);
2. checks the Hub is reachable, in seconds: with HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set it
   stops at once; otherwise one metadata request (`--timeout`, default 10 s) must answer, or it
   stops with what failed (no retries, no minute-long hangs);
3. downloads: the captioner with `huggingface_hub.snapshot_download` (config, processor,
   tokenizer, chat template and safetensors weights; `.bin` only when a repo has no
   safetensors; never code, ONNX, TF/Flax or GGUF files), CLIP with open_clip's own download
   of the tag's file; into the Hugging Face cache (`HF_HOME` / `HF_HUB_CACHE`), or into `--to DIR`;
4. verifies they load exactly as the stages will load them (offline, `allow_random_init`
   off: the captioner through `load_captioner`, CLIP through `check_clip_weights`);
5. prints the params to set.

A model_id / pretrained value that is already a local directory / file is only verified.
Exit status: 0 when every requested model loads, 1 otherwise (the message says why).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS = ("clip", "captioner")
# what a transformers image-text-to-text checkpoint needs (no remote code: trust_remote_code is never used)
CAPTIONER_PATTERNS = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.safetensors"]
CAPTIONER_PATTERNS_BIN = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "pytorch_model*.bin"]


class FetchError(RuntimeError):
    """A model could not be fetched or verified; the message says why and what to do.
    `network`: the Hub could not be used at all (the other targets would fail the same way)."""

    def __init__(self, message: str, network: bool = False):
        super().__init__(message)
        self.network = network


@dataclass
class Fetched:
    target: str  # "clip" | "captioner"
    location: str  # where the weights are now
    weights: str  # what the stage will record ("pretrained", "pretrained:openai", "checkpoint:<path>")
    params: dict[str, Any] = field(default_factory=dict)  # the params.yaml values to set (nested)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- network
def offline_reason() -> str | None:
    """Why the Hub must not be contacted (offline mode set in the environment), or None."""
    import huggingface_hub.constants as hc

    if hc.HF_HUB_OFFLINE:
        var = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
        return f"{var}={os.environ.get(var)} is set (offline mode)"
    return None


def _offline_message(reason: str) -> str:
    return (
        f"models fetch: cannot download: {reason}.\n"
        "This is the one command that downloads weights: run it once on a machine with internet access "
        "(and HF_HUB_OFFLINE unset), then copy the cache or the --to folder here and set the params it prints."
    )


def probe_repo(repo_id: str, timeout: float) -> Any:
    """ModelInfo of `repo_id` (its file list included), or FetchError within about `timeout` seconds."""
    from huggingface_hub import HfApi
    from huggingface_hub.constants import ENDPOINT
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    reason = offline_reason()
    if reason:
        raise FetchError(_offline_message(reason), network=True)
    try:
        return HfApi(endpoint=ENDPOINT).model_info(repo_id, timeout=timeout)
    except GatedRepoError:
        raise FetchError(f"models fetch: {repo_id} is gated: accept its licence on the Hub and log in (`hf auth login`), then run again") from None
    except RepositoryNotFoundError:
        raise FetchError(f"models fetch: {repo_id} does not exist on {ENDPOINT} (check the id in params.yaml)") from None
    except OfflineModeIsEnabled as exc:
        raise FetchError(_offline_message(str(exc)), network=True) from None
    except HfHubHTTPError as exc:  # something answered, but not as the Hub (a proxy, a wrong HF_ENDPOINT)
        raise FetchError(_offline_message(f"{ENDPOINT} did not serve {repo_id} ({_first_line(exc)}); check HF_ENDPOINT and proxies"), network=True) from None
    except Exception as exc:  # connection refused / DNS / timeout
        raise FetchError(_offline_message(f"cannot reach {ENDPOINT} within {timeout:g} s ({_first_line(exc)})"), network=True) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


# ---------------------------------------------------------------------- captioner
def _folder_name(repo_id: str) -> str:
    return repo_id.replace("/", "__")


def fetch_captioner(params, dest: Path | None, timeout: float) -> Fetched:
    from curation.caption.captioner import CaptionerUnavailable, load_captioner

    p = params.caption.captioner
    notes: list[str] = []
    if Path(p.model_id).expanduser().is_dir():
        location = str(Path(p.model_id).expanduser())
        notes.append("model_id is a local directory: nothing downloaded")
    else:
        from huggingface_hub import snapshot_download

        info = probe_repo(p.model_id, timeout)
        files = [s.rfilename for s in (info.siblings or [])]
        patterns = CAPTIONER_PATTERNS if any(f.endswith(".safetensors") for f in files) else CAPTIONER_PATTERNS_BIN
        target = None if dest is None else dest / _folder_name(p.model_id)
        print(f"models fetch: captioner {p.model_id} -> {target or 'Hugging Face cache'}", flush=True)
        try:
            # the default branch (not info.sha): a commit-sha download writes no refs/main, and the offline load looks that up
            location = snapshot_download(p.model_id, allow_patterns=patterns, local_dir=target)
        except Exception as exc:
            raise FetchError(f"models fetch: downloading {p.model_id} failed: {type(exc).__name__}: {str(exc)[:300]}") from None
    model_id = location if (dest is not None or Path(p.model_id).expanduser().is_dir()) else p.model_id
    check = p.model_copy(update={"model_id": model_id, "local_files_only": True, "allow_random_init": False, "tiny_config": False})
    t = time.perf_counter()
    try:
        cap = load_captioner(check)
    except CaptionerUnavailable as exc:
        raise FetchError(f"models fetch: downloaded, but the captioner does not load: {exc}") from None
    n_params = sum(x.numel() for x in cap.model.parameters())
    arch = getattr(cap, "architecture", type(cap.model).__name__)
    notes.append(f"loads as {cap.weights} ({arch}, {n_params / 1e6:.0f}M parameters, {cap.precision} on {cap.device}, {time.perf_counter() - t:.1f} s)")
    set_params = {"caption": {"captioner": {"kind": p.kind, "model_id": model_id, "local_files_only": True}}}
    return Fetched("captioner", location, cap.weights, set_params, notes)


# ---------------------------------------------------------------------- CLIP
def fetch_clip(params, dest: Path | None, timeout: float) -> Fetched:
    import open_clip

    from curation.score.clip_model import ClipWeightsUnavailable, check_clip_weights, hub_offline

    c = params.score.clip
    if not c.pretrained:
        raise FetchError("models fetch: score.clip.pretrained is null: name an open_clip tag (e.g. openai) in params.yaml")
    if c.model not in open_clip.list_models():
        raise FetchError(f"models fetch: score.clip.model {c.model!r} is not an open_clip model")
    notes: list[str] = []
    model, pretrained = c.model, c.pretrained
    if Path(c.pretrained).expanduser().is_file():
        location = str(Path(c.pretrained).expanduser())
        notes.append("score.clip.pretrained is a local file: nothing downloaded")
    else:
        tags = open_clip.list_pretrained_tags_by_model(c.model)
        if c.pretrained not in tags:
            raise FetchError(f"models fetch: {c.pretrained!r} is not an open_clip tag of {c.model} (tags: {', '.join(tags) or 'none'})")
        cfg = open_clip.get_pretrained_cfg(c.model, c.pretrained)
        hub = str(cfg.get("hf_hub") or "")
        if not hub:
            raise FetchError(f"models fetch: open_clip tag {c.model}/{c.pretrained} has no Hugging Face Hub source; download {cfg.get('url')} yourself and set score.clip.pretrained to the file")
        probe_repo(os.path.split(hub)[0], timeout)  # "org/name/" or "org/name/file": the repo is org/name
        print(f"models fetch: CLIP {c.model}/{c.pretrained} ({hub}) -> {dest or 'Hugging Face cache'}", flush=True)
        try:
            with hub_offline(False):
                location = open_clip.download_pretrained(cfg, cache_dir=None if dest is None else str(dest))
        except Exception as exc:
            raise FetchError(f"models fetch: downloading CLIP {c.model}/{c.pretrained} failed: {type(exc).__name__}: {str(exc)[:300]}") from None
        if not location:
            raise FetchError(f"models fetch: open_clip found nothing to download for {c.model}/{c.pretrained}")
        if dest is not None:
            # a checkpoint file is loaded without the tag's settings: name the QuickGELU variant when the tag needs it
            pretrained = location
            if cfg.get("quick_gelu") and f"{c.model}-quickgelu" in open_clip.list_models():
                model = f"{c.model}-quickgelu"
                notes.append(f"{c.pretrained} weights use QuickGELU: loading them from a file needs model {model}")
    check = c.model_copy(update={"model": model, "pretrained": pretrained, "allow_download": False, "allow_random_init": False})
    t = time.perf_counter()
    try:
        label = check_clip_weights(check)
    except ClipWeightsUnavailable as exc:
        raise FetchError(f"models fetch: downloaded, but CLIP does not load: {str(exc).splitlines()[0]}") from None
    notes.append(f"loads as {label} ({time.perf_counter() - t:.1f} s)")
    set_params = {"score": {"clip": {"model": model, "pretrained": pretrained, "allow_download": False, "allow_random_init": False}}}
    return Fetched("clip", location, label, set_params, notes)


# ---------------------------------------------------------------------- CLI
def needs_download(params, target: str) -> bool:
    """False when params already name a local directory (captioner) / checkpoint file (clip)."""
    if target == "captioner":
        return not Path(params.caption.captioner.model_id).expanduser().is_dir()
    pretrained = params.score.clip.pretrained
    return bool(pretrained) and not Path(pretrained).expanduser().is_file()


def _yaml(params: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(params, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = sub.add_parser(
        "fetch",
        help="download the CLIP / captioner weights named in params.yaml (the only command that downloads), verify they load, print the params to set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("targets", nargs="*", metavar="TARGET", help="clip and/or captioner (default: both)")
    fetch.add_argument("--params", default="params.yaml", help="params file naming the models (default params.yaml; built-in defaults when it does not exist)")
    fetch.add_argument("--to", type=Path, help="download into this folder instead of the Hugging Face cache (then point params at it, as printed)")
    fetch.add_argument("--timeout", type=float, default=10.0, help="seconds the Hub has to answer the first request (default 10)")


def main(args: argparse.Namespace) -> int:
    from curation.config import load_params, parse_params

    targets = list(dict.fromkeys(args.targets or TARGETS))
    bad = [t for t in targets if t not in TARGETS]
    if bad:
        print(f"models fetch: unknown target(s) {bad}; choose from: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    params = load_params(args.params) if Path(args.params).exists() else parse_params({}, "defaults")
    reason = offline_reason()
    pending = [t for t in targets if needs_download(params, t)]
    if reason and pending:  # before any model library is imported: offline fails at once
        print(_offline_message(f"{' and '.join(pending)} would be downloaded, but {reason}"), file=sys.stderr)
        return 1
    dest = args.to.expanduser().resolve() if args.to else None
    if dest is not None:
        dest.mkdir(parents=True, exist_ok=True)
    done: list[Fetched] = []
    failed = False
    for target in targets:
        try:
            done.append(fetch_clip(params, dest, args.timeout) if target == "clip" else fetch_captioner(params, dest, args.timeout))
        except FetchError as exc:
            print(str(exc), file=sys.stderr)
            failed = True
            if exc.network:
                break  # the network is the problem: the next target would fail the same way
    for f in done:
        print(f"\n{f.target}: {f.location}")
        for n in f.notes:
            print(f"  {n}")
    if done:
        merged: dict[str, Any] = {}
        from curation.config import deep_merge

        for f in done:
            merged = deep_merge(merged, f.params)
        print(f"\nSet in {args.params} (rows will then record real weights):\n{_yaml(merged)}")
    return 1 if failed else 0
