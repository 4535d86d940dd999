"""Tiny, randomly initialised VLM captioners built offline from transformers config classes.

For tests and the overhead benchmark only (`caption.captioner.tiny_config: <architecture>`):
they exercise the real processor -> chat template -> generate -> decode path of each supported
architecture, without any downloaded file.  Their captions are noise; every row they write says
`captioner_weights = "random-init"`.

What is built, per architecture (all seeded, so two builds are identical):

* tokenizer: character level (`char_tokenizer`: a `tokenizers` BPE with the printable ASCII
  characters as its vocabulary and no merges, built in memory) plus the architecture's special
  tokens (Qwen: `<|im_start|>`, `<|vision_start|>`, `<|video_pad|>` ...; SmolVLM / Idefics3:
  `<image>`, `<fake_token_around_image>`, `<global-img>`, `<row_i_col_j>`, `<end_of_utterance>`).
  Nothing is read from disk or downloaded.
* image / video processors: the architecture's own classes with their defaults, except a
  small resolution (Qwen: 28..56 px per side so each frame is 2x2 or 4x4 patches of 14 px;
  SmolVLM / Idefics3: frames resized to 32 px, no image splitting).
* chat template: Qwen2-VL's published ChatML template (system line, `<|vision_start|><|video_pad|>
  <|vision_end|>` per video, `<|image_pad|>` per image); for SmolVLM / Idefics3 the template that
  ships in transformers (`processing_smolvlm.DEFAULT_CHAT_TEMPLATE`: "User:<image>...<end_of_utterance>
  \\nAssistant:").
* model: `Qwen2VLForConditionalGeneration` / `Qwen2_5_VLForConditionalGeneration` /
  `SmolVLMForConditionalGeneration` / `Idefics3ForConditionalGeneration` from a config with 1-2
  layers of width 32-64, token ids wired to the tokenizer above.
"""

from __future__ import annotations

from typing import Any

#: tiny_config names of the VLM architectures (model_type of the real checkpoints)
VLM_ARCHITECTURES = ("qwen2_vl", "qwen2_5_vl", "smolvlm", "idefics3")
_SEED = 0

QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
SMOL_SPECIAL = (
    ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>"]
    + [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
)


def _seeded(build):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        return build()


def char_tokenizer(special: list[str], eos: str, pad: str):
    """A character-level tokenizer: `<unk>` (id 0), the printable ASCII characters, then `special`.

    A `tokenizers` BPE model with no merges (one token per character; anything else -> `<unk>`)
    and a Fuse decoder, wrapped as a transformers `TokenizersBackend`, so it saves / loads like
    any fast tokenizer.  Every generated token decodes to a visible character or to nothing
    (special tokens), so a random model's output is printable text."""
    import string

    from tokenizers import Tokenizer, decoders, models
    from transformers import AddedToken
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    chars = ["<unk>", *sorted(set(string.printable) - set("\x0b\x0c\r"))]
    backend = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(chars)}, merges=[], unk_token="<unk>", fuse_unk=True))
    backend.decoder = decoders.Fuse()
    tok = TokenizersBackend(tokenizer_object=backend, unk_token="<unk>", eos_token=eos, pad_token=pad)
    tok.add_special_tokens({"extra_special_tokens": [AddedToken(s, special=True, normalized=False) for s in special]})
    missing = [s for s in special if (tok.convert_tokens_to_ids(s) or 0) < len(chars)]
    if missing:
        raise RuntimeError(f"tiny tokenizer: special tokens not added: {missing}")
    return tok


def _qwen(arch: str) -> tuple[Any, Any]:
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    tok = char_tokenizer(QWEN_SPECIAL, eos="<|im_end|>", pad="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    size = {"shortest_edge": 28 * 28, "longest_edge": 56 * 56}
    image_processor = Qwen2VLImageProcessor(size=size)
    video_processor = Qwen2VLVideoProcessor(size=size)
    text = {
        "vocab_size": len(tok), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
    }  # fmt: skip
    common = {
        "image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
    }  # fmt: skip
    if arch == "qwen2_vl":
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

        vision = {"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
        config = Qwen2VLConfig(text_config=text, vision_config=vision, **common)
        model_cls, proc_cls = Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    else:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

        vision = {
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64, "patch_size": 14,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [1], "tokens_per_second": 2,
        }  # fmt: skip
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
        model_cls, proc_cls = Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    processor = proc_cls(image_processor=image_processor, tokenizer=tok, video_processor=video_processor, chat_template=QWEN_CHAT_TEMPLATE)
    return _seeded(lambda: model_cls(config)), processor


def _smol(arch: str) -> tuple[Any, Any]:
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    tok = char_tokenizer(SMOL_SPECIAL, eos="<end_of_utterance>", pad="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in SMOL_SPECIAL}
    image_size, patch, scale = 32, 8, 2
    seq_len = (image_size // patch) ** 2 // scale**2
    text = {
        "vocab_size": len(tok), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 4096, "bos_token_id": ids["<|im_start|>"],
        "eos_token_id": ids["<end_of_utterance>"], "pad_token_id": ids["<|endoftext|>"], "tie_word_embeddings": False,
    }  # fmt: skip
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": image_size, "patch_size": patch}
    sizes = {"size": {"longest_edge": image_size}, "max_image_size": {"longest_edge": image_size}}
    if arch == "smolvlm":
        from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

        config = SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=scale, image_token_id=ids["<image>"], pad_token_id=ids["<|endoftext|>"])
        processor = SmolVLMProcessor(
            image_processor=SmolVLMImageProcessor(do_image_splitting=False, **sizes),
            tokenizer=tok,
            video_processor=SmolVLMVideoProcessor(**sizes),
            image_seq_len=seq_len,
            chat_template=DEFAULT_CHAT_TEMPLATE,
        )
        model_cls = SmolVLMForConditionalGeneration
    else:
        from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

        config = Idefics3Config(text_config=text, vision_config=vision, scale_factor=scale, image_token_id=ids["<image>"], pad_token_id=ids["<|endoftext|>"])
        processor = Idefics3Processor(
            image_processor=Idefics3ImageProcessor(do_image_splitting=False, **sizes), tokenizer=tok, image_seq_len=seq_len, chat_template=DEFAULT_CHAT_TEMPLATE
        )
        model_cls = Idefics3ForConditionalGeneration
    return _seeded(lambda: model_cls(config)), processor


def build_tiny_vlm(arch: str) -> tuple[Any, Any]:
    """(model, processor) of a tiny random-init `arch` (one of VLM_ARCHITECTURES)."""
    if arch in ("qwen2_vl", "qwen2_5_vl"):
        return _qwen(arch)
    if arch in ("smolvlm", "idefics3"):
        return _smol(arch)
    raise ValueError(f"no tiny config for architecture {arch!r} (supported: {', '.join(VLM_ARCHITECTURES)})")
