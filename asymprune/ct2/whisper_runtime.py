"""`Whisper`: a converted Whisper in `ctranslate2.models.Whisper`, fed log-mel windows, prompted as transformers does.

    model = Whisper(ct2_dir, device="cpu", compute_type="int8", threads=2)
    batch = model.inputs({"input_features": features})          # a StorageView of (batch, 80, 3000) float32
    lengths = model.generate(batch, new_tokens=32, fixed=False)  # greedy, EOS counted as transformers counts it
    Whisper.check("runs/whisper-tiny.en", ct2_dir)               # greedy tokens and log-probs against transformers

The prompt is built from the converted vocabulary as transformers builds it from the generation
config: <|startoftranscript|>, for a multilingual model <|en|><|transcribe|> (English: the bench
times transcription, not language detection), then <|notimestamps|>. Like transformers' Whisper
generate(), CTranslate2 returns neither the prompt nor the end-of-sequence token.

CTranslate2 decodes at most half of Whisper's 448 positions (224 new tokens): its Whisper takes
`max_length` as the whole context and stops at min(max_length / 2, max_length - prompt)
(OpenNMT/CTranslate2 issue #1856). `generate` asks for the context that gives exactly the tokens
wanted, and refuses more than 224.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .runtimes import Runtime, register_runtime, vocabulary

CONTEXT = 448  # Whisper's decoder positions, prompt included


def _prompt(tokens: list[str], multilingual: bool) -> list[int]:
    ids = {token: i for i, token in enumerate(tokens)}
    middle = ["<|en|>", "<|transcribe|>"] if multilingual else []
    return [ids[t] for t in ["<|startoftranscript|>", *middle, "<|notimestamps|>"]]


@register_runtime
class Whisper(Runtime):
    """Whisper encoder-decoders: `ctranslate2.models.Whisper`, fed log-mel features."""

    name = "Whisper"

    def __init__(self, ct2_dir, *, device="cpu", compute_type="default", threads=1):
        import ctranslate2
        self.tokens = vocabulary(Path(ct2_dir))
        self.model = ctranslate2.models.Whisper(str(ct2_dir), device=device, compute_type=compute_type,
                                                intra_threads=threads, inter_threads=1)
        self.prompt = _prompt(self.tokens, self.model.is_multilingual)
        self.eos = self.tokens.index("<|endoftext|>")

    def inputs(self, encoded):
        import ctranslate2
        import numpy as np
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded["input_features"].float().numpy()))

    def width(self, batch):
        return batch.shape[-1]

    @classmethod
    def max_new_tokens(cls):
        return CONTEXT // 2

    def context(self, new_tokens: int) -> int:
        """The `max_length` under which CTranslate2's Whisper generates `new_tokens` tokens at most."""
        length = max(2 * new_tokens, new_tokens + len(self.prompt))
        if length > CONTEXT:
            raise UsageError(f"CTranslate2's Whisper generates at most {CONTEXT // 2} tokens (half its {CONTEXT} "
                             f"positions); pass --new-tokens {CONTEXT // 2} or less with --backend ct2")
        return length

    def generate(self, batch, new_tokens, fixed):
        # suppress_tokens -1: the set the model's config.json names, as transformers' Whisper suppresses; fixed
        # lengths also suppress the end of sequence, as min_new_tokens does in transformers.
        out = self.model.generate(batch, [self.prompt] * batch.shape[0], beam_size=1,
                                  max_length=self.context(new_tokens),
                                  suppress_tokens=[-1, self.eos] if fixed else [-1])
        # What it really returned (neither prompt nor end of sequence), not what was asked for: a sequence that
        # stopped short of the cap stopped at the end of sequence, which it generated and does not return;
        # with the end of sequence suppressed there is none to count.
        lengths = [len(r.sequences_ids[0]) for r in out]
        return lengths if fixed else [n + (n < new_tokens) for n in lengths]

    @classmethod
    def check(cls, model_dir, ct2_dir, length=12, seed=0):
        """Greedy tokens and per-token log-probs, HF float32 vs CTranslate2 float32, on a seeded random window with
        the end of sequence suppressed and nothing else (the raw model, no decoding rules)."""
        import ctranslate2
        import numpy as np
        import torch

        from ..models import family_for, load_model
        model = load_model(str(model_dir), dtype=torch.float32)
        prompt = family_for(model.config).decoder_prompt(model.generation_config, model.config)
        eos = model.config.eos_token_id
        x = torch.randn((1, model.config.num_mel_bins, 3000), generator=torch.Generator().manual_seed(seed))
        ids, hf_logp = list(prompt), []
        with torch.inference_mode():
            encoded = model.get_encoder()(x).last_hidden_state
            for _ in range(length):
                logits = model(encoder_outputs=(encoded,), decoder_input_ids=torch.tensor([ids])).logits[0, -1]
                logits[eos] = -float("inf")
                logp = torch.log_softmax(logits.float(), -1)
                ids.append(int(logp.argmax()))
                hf_logp.append(float(logp[ids[-1]]))
        hf_ids = ids[len(prompt):]
        whisper = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
        result = whisper.generate(ctranslate2.StorageView.from_array(x.numpy()), [prompt], beam_size=1,
                                  max_length=max(2 * length, length + len(prompt)), suppress_tokens=[eos],
                                  suppress_blank=False, return_logits_vocab=True)[0]
        ct2_ids = result.sequences_ids[0]
        ct2_logp = []
        for step, token in zip(result.logits[0], hf_ids):  # raw logits per step: log-softmax them
            row = np.asarray(step, dtype=np.float64)
            row = row - row.max()
            ct2_logp.append(float(row[token] - np.log(np.exp(row).sum())))
        diff = max(abs(a - b) for a, b in zip(hf_logp, ct2_logp)) if ct2_logp else float("inf")
        return {"tokens_match": ct2_ids == hf_ids, "hf_tokens": hf_ids, "ct2_tokens": ct2_ids,
                "max_logprob_diff": diff, "scores_match": diff < 1e-3}
