"""Executors: the chains run in order here (local), or one Ray task per chain; then the group benches.

    run_local(chains, recorder, log, say); bench_local(groups, recorder, log, say)
    ray = connect_ray("auto"); run_ray(ray, chains, ...); bench_ray(ray, groups, ...)

A failing chain is recorded with its error and the others go on; a chain whose base failed is
skipped. Group benches run after every chain has ended, one at a time, so no training shares a
node with a bench.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..console import display_names
from ..errors import UsageError, first_line
from ..interrupt import raise_pending
from .chains import BenchGroup, Chain
from .record import Recorder
from .stage_kinds import execute, read_result
from .stages import Outcome


def run_chain(chain: Chain, log: Path, on_outcome=None) -> list[Outcome]:
    """Execute a chain's stages in order; stop at the first failure (recorded, not raised)."""
    outcomes = []
    for stage in chain.stages:
        started = time.time()
        try:
            raise_pending()  # a Ctrl-C deferred in a finalizer (asymprune.interrupt) stops the sweep here
            result = execute(stage, log)
            outcome = Outcome(stage.name, stage.key, "done", started, time.time(), str(stage.out), result)
        except KeyboardInterrupt:
            outcome = Outcome(stage.name, stage.key, "interrupted", started, time.time(), str(stage.out),
                              error="interrupted")
            if on_outcome:
                on_outcome(chain, outcome)
            raise
        except Exception as e:  # a failed variant must not stop the sweep
            outcome = Outcome(stage.name, stage.key, "failed", started, time.time(), str(stage.out),
                              error=first_line(e, typed=True))
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(chain, outcome)
        if outcome.status != "done":
            break
    return outcomes


def _label(item) -> str:
    """'t5-tiny-synthetic synthetic': a chain's or group's model and dataset, local paths shortened."""
    names = display_names([item.model, item.dataset])
    return f"{names[item.model]} {names[item.dataset]}"


def _skip_reason(chain: Chain, failed_bases: set) -> str | None:
    """Why a chain must not run (the planner ruled it out, or its base failed); None: it runs."""
    if chain.skipped:
        return chain.skipped
    if not chain.base and (chain.model, chain.dataset) in failed_bases:
        return "the base model's stages failed"
    return None


def run_local(chains: list[Chain], recorder: Recorder, log: Path, say) -> None:
    failed_bases = set()
    for i, chain in enumerate(chains, 1):
        if reason := _skip_reason(chain, failed_bases):
            recorder.skip(chain, reason)
            continue
        todo = [s.name for s in chain.stages if not s.done]
        say(f"[{i}/{len(chains)}] {_label(chain)} {chain.variant}: "
            + (f"running {', '.join(todo)}" if todo else "done already"))
        recorder.run_id(chain)
        recorder.start(chain)
        outcomes = run_chain(chain, log, on_outcome=recorder)
        if outcomes[-1].status != "done":
            say(f"  [red]failed[/] at {outcomes[-1].stage}: {outcomes[-1].error}")
            if chain.base:
                failed_bases.add((chain.model, chain.dataset))


def _bench_members(group: BenchGroup, say) -> list[Chain] | None:
    """The chains a group's bench times now, or None when its base is not finished."""
    members = group.members()
    if not members or not members[0].base:
        return None
    missing = [c.variant for c in group.chains if not c.skipped and not c.finished]
    if missing:
        say(f"  bench {_label(group)}: without {', '.join(missing)} (not finished); "
            "they are benched with the group once they finish")
    return members


def bench_local(groups: list[BenchGroup], recorder: Recorder, log: Path, say) -> None:
    """Each group's interleaved bench, after all training: nothing else runs beside it."""
    for group in groups:
        members = _bench_members(group, say)
        if members is None:
            continue
        stage = group.stage(members)
        say(f"bench {_label(group)}: {', '.join(c.variant for c in members)} "
            + ("done already" if stage.done else "in one interleaved run"))
        outcome = run_chain(Chain(group.model, group.dataset, "bench", {}, [stage]), log)[-1]
        recorder.bench(members, outcome)
        if outcome.status != "done":
            say(f"  [red]failed[/] at bench: {outcome.error}")


def connect_ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray; install it with pip install 'asymprune[ray]'") from None
    if address and address != "auto" and ":" in address:
        # ray.init retries an unreachable address for many minutes; fail fast instead.
        import socket
        host, port = address.rsplit(":", 1)
        try:
            socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=5).close()
        except (OSError, ValueError) as e:
            raise UsageError(f"could not reach Ray at {address} ({e}); start one with `ray start --head` "
                             "or pass --address") from None
    try:
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UsageError(f"could not reach Ray at {address or 'a new local instance'} ({first_line(e, typed=True)}); "
                         "start one with `ray start --head` or pass --address") from None
    return ray


def _chain_task(chain: Chain, log: str) -> list[Outcome]:
    from ..console import quiet_transformers
    quiet_transformers()
    return run_chain(chain, Path(log))


def bench_ray(ray, groups: list[BenchGroup], recorder: Recorder, log: Path, say, resources: dict) -> None:
    """Group benches as Ray tasks, one at a time and only after every chain task has ended, so no
    training shares the node. The bench sets its threads itself (every core, or bench.threads):
    Ray's OMP_NUM_THREADS=num_cpus does not reach it."""
    task = ray.remote(num_cpus=resources.get("num_cpus", 1), num_gpus=resources.get("num_gpus", 0))(_chain_task)
    for group in groups:
        members = _bench_members(group, say)
        if members is None:
            continue
        stage = group.stage(members)
        chain = Chain(group.model, group.dataset, "bench", {}, [stage])
        outcome = _task_outcomes(ray, task.remote(chain, str(log.resolve())), chain, time.time())[-1]
        recorder.bench(members, outcome)
        say(f"bench {_label(group)}: {outcome.status}")


def _task_outcomes(ray, ref, chain: Chain, submitted: float) -> list[Outcome]:
    """A chain task's outcomes; when its worker died, its finished stages and a failure naming the cause.

    The worker reports nothing once dead, so the stages are read from disk: the finished ones have
    their folders, and the first without one was in flight.
    """
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        now, outcomes = time.time(), []
        for stage in chain.stages:
            if stage.done:
                outcomes.append(Outcome(stage.name, stage.key, "done", submitted, now, str(stage.out),
                                        read_result(stage)))
                continue
            outcomes.append(Outcome(stage.name, stage.key, "failed", submitted, now, str(stage.out),
                                    error=f"the Ray worker running it died ({first_line(e, typed=True)}); run the sweep "
                                          "again to resume"))
            break
        return outcomes


def run_ray(ray, chains: list[Chain], recorder: Recorder, log: Path, say, resources: dict) -> None:
    """One Ray task per chain: bases first, then every variant chain at once."""
    # max_retries=0: a task whose process died (killed, out of memory) is that chain's failure,
    # reported with its cause; the next run resumes it from its last finished stage.
    task = ray.remote(num_cpus=resources.get("num_cpus", 1), num_gpus=resources.get("num_gpus", 0),
                      max_retries=0)(_chain_task)
    failed_bases, submitted = set(), {}
    phases = ([c for c in chains if c.base], [c for c in chains if not c.base and not c.draft_ref],
              [c for c in chains if c.draft_ref])  # a lossless chain needs its draft trained
    for group in phases:
        pending = {}
        for chain in group:
            if reason := _skip_reason(chain, failed_bases):
                recorder.skip(chain, reason)
                continue
            recorder.run_id(chain)
            recorder.start(chain)
            ref = task.remote(chain, str(log.resolve()))
            pending[ref], submitted[ref] = chain, time.time()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            chain = pending.pop(ready[0])
            outcomes = _task_outcomes(ray, ready[0], chain, submitted.pop(ready[0]))
            for outcome in outcomes:
                recorder(chain, outcome)
            say(f"{_label(chain)} {chain.variant}: {outcomes[-1].status}")
            if chain.base and outcomes[-1].status != "done":
                failed_bases.add((chain.model, chain.dataset))
