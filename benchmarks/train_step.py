"""What one distil-whisper re-tune step costs on this CPU: optimizer kernel, bfloat16 autocast, the teacher.

    python benchmarks/train_step.py --model runs/whisper-tiny.en          # asymprune import-ct2 writes it
    python benchmarks/train_step.py --model whisper-tiny.en --steps 2     # the preset (random weights)

One decoder step as `asymprune train --freeze-encoder --freeze-embeddings --distill-from` takes it:
batch --batch of cached encoder outputs (random, 1,500 frames), --tokens target tokens, the
student's loss (cross-entropy plus KL at T = 2 to the teacher, a copy of the model) and an AdamW
step over the decoder layers. Rows: the per-tensor AdamW loop against the fused kernel, float32
against bfloat16 autocast (teacher included), and the step without a teacher. Median of --steps
after one warm-up step; the load average is printed beside, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="whisper-tiny.en", help="a Whisper folder or preset")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from transformers.modeling_outputs import BaseModelOutput

    from asymprune.models import load_model
    from asymprune.train.config import cpu_has_bf16
    torch.set_num_threads(args.threads)
    student = load_model(args.model, presets=True)
    teacher = copy.deepcopy(student).eval()
    for p in student.model.encoder.parameters():
        p.requires_grad = False
    student.model.decoder.embed_tokens.weight.requires_grad = False
    student.model.decoder.embed_positions.weight.requires_grad = False
    student.train()
    params = [p for p in student.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(0)
    hidden = BaseModelOutput(last_hidden_state=torch.randn(args.batch, 1500, student.config.d_model, generator=g))
    vocab = student.config.vocab_size
    labels = torch.randint(0, vocab, (args.batch, args.tokens), generator=g)
    inputs = torch.randint(0, vocab, (args.batch, args.tokens), generator=g)

    def step(opt, bf16: bool, with_teacher: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = student(encoder_outputs=hidden, decoder_input_ids=inputs, labels=labels)
            loss = out.loss
            if with_teacher:
                with torch.no_grad():
                    t = teacher(encoder_outputs=hidden, decoder_input_ids=inputs).logits.float()
                loss = loss + F.kl_div(F.log_softmax(out.logits.float() / 2, -1), F.softmax(t / 2, -1),
                                       reduction="batchmean")
        loss.backward()
        opt.step()
        opt.zero_grad()

    print(f"{args.model}: {sum(p.numel() for p in params):,} trainable parameters, batch {args.batch} x "
          f"{args.tokens} tokens, {args.threads} threads; native bfloat16: {cpu_has_bf16()}; load average "
          f"{os.getloadavg()[0]:.1f}")
    rows = [("AdamW per-tensor loop, float32", {"foreach": False}, False, True),
            ("AdamW fused, float32", {"fused": True}, False, True),
            ("AdamW fused, bfloat16 autocast", {"fused": True}, True, True),
            ("AdamW fused, float32, no teacher", {"fused": True}, False, False),
            ("AdamW fused, bfloat16 autocast, no teacher", {"fused": True}, True, False)]
    for name, kwargs, bf16, with_teacher in rows:
        opt = torch.optim.AdamW(params, lr=1e-5, **kwargs)
        step(opt, bf16, with_teacher)  # warm-up
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            step(opt, bf16, with_teacher)
            times.append(time.perf_counter() - start)
        print(f"{name:36s} {statistics.median(times):6.2f} s a step")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
