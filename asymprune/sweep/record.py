"""The results database's one writer: what each stage's outcome means for its run.

    recorder = Recorder(Store(out / "results.db"), "demo", config)
    recorder.start(chain); recorder(chain, outcome)     # a run's status, stages, metrics, documents
    recorder.bench(members, outcome)                   # a group's latency rows, one bench_id for all
    recorder.skip(chain, "planner predicts 1.20× < min_speedup 2×")

Tables (asymprune/store.py): `runs` (status, error, kept layers, parameters), `stages`
(each stage's status, time and folder), `metrics` and `documents` (from an evaluate stage's
metrics.json and predictions.jsonl: the keys of the metric it names, gen_len and the sample count,
and every per-document number), `latency` (from a bench stage's bench.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..metrics import metric_for
from .chains import Chain
from .stages import Outcome


class Recorder:
    """Writes outcomes into the results database (the driver is its only writer)."""

    def __init__(self, store, sweep: str, config: dict):
        self.store, self.sweep, self.config = store, sweep, config

    def run_id(self, chain: Chain) -> int:
        return self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, config=self.config,
                                     **chain.run_fields)

    def start(self, chain: Chain) -> None:
        self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status="running", error=None)

    def __call__(self, chain: Chain, outcome: Outcome) -> None:
        if outcome.status == "done" and outcome.stage == "prune" and "kept" in outcome.result:
            chain.run_fields["kept"] = outcome.result["kept"]  # data-driven indices are known only now
        run = self.run_id(chain)
        self.store.record_stage(run, outcome.stage, outcome.key, outcome.status, outcome.started, outcome.finished,
                                outcome.error, outcome.output)
        if outcome.status == "done" and outcome.stage == "evaluate":
            m = outcome.result
            split = m.get("split", "test")
            keys = (*metric_for(m.get("metric", "rouge")).keys, "gen_len")  # a metrics.json before schema 5: ROUGE
            self.store.record_metrics(run, split, {**{k: m.get(k) for k in keys}, "n_samples": m.get("samples")})
            predictions = Path(outcome.output) / "predictions.jsonl"
            if predictions.is_file():
                self.store.record_documents(run, split, [json.loads(line) for line in predictions.open()])
        last = outcome.stage == chain.stages[-1].name and outcome.key == chain.stages[-1].key
        if outcome.status != "done":
            self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status=outcome.status,
                                  error=f"{outcome.stage}: {outcome.error}")
        elif last:
            self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status="done", error=None)

    def bench(self, members: list[Chain], outcome: Outcome) -> None:
        """A group's interleaved bench: every member's latency rows carry the same bench_id."""
        report = outcome.result
        for chain in members:
            run = self.run_id(chain)
            self.store.record_stage(run, "bench", outcome.key, outcome.status, outcome.started, outcome.finished,
                                    outcome.error, outcome.output)
            if outcome.status != "done":
                self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status=outcome.status,
                                      error=f"bench: {outcome.error}")
        if outcome.status != "done":
            return
        env = report["env"]
        where = dict(device=env["device"], source_length=env["source_length"],
                     new_tokens=env["new_tokens"], dataset=env["dataset"], bench_id=outcome.key,
                     hardware=env["gpu"] or env["cpu"], torch=env["torch"], transformers=env["transformers"],
                     ctranslate2=env["ctranslate2"])
        order = list(dict.fromkeys(r["model"] for r in report["results"]))
        for chain, model in zip(members, order):
            rows = [r for r in report["results"] if r["model"] == model]
            run = self.run_id(chain)
            self.store.record_latency(run, [{"dtype": env["dtype"], **r, **where, "gen_len": r["generated_tokens_mean"]}
                                            for r in rows])  # a row says its own dtype (a run may mix setups)
            self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant,
                                  params=rows[0]["params"]["total"])

    def skip(self, chain: Chain, reason: str) -> None:
        self.run_id(chain)
        self.store.upsert_run(self.sweep, chain.model, chain.dataset, chain.variant, status="skipped", error=reason)
