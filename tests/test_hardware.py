"""The machine's limits: a streaming read gives a positive, finite rate; figures are measured once
per machine and size and then reused; a damaged cache file is an error that names it and is left
as it is. No timing is asserted beyond "positive and finite"."""

import json
import math
import multiprocessing as mp

import pytest

from asymprune.errors import UsageError
from asymprune.hardware import (
    CACHE_NAME, FORMAT, MIB, Bandwidth, cache_path, load_cache, machine_key, measure_read, remembered,
    working_set_size,
)

SMALL = 2 * MIB


def small_read():
    return measure_read(SMALL, threads=1, seconds=0.05)


def test_a_read_has_a_positive_finite_rate():
    figure = small_read()
    assert figure["rate"] > 0 and math.isfinite(figure["rate"])
    assert figure["rate"] >= figure["median"] > 0  # the best sample, and the median beside it
    assert figure["samples"] >= 5 and figure["spread"] >= 0 and figure["load"] >= 0


def test_sizes_round_up_to_two_significant_figures_of_mib():
    assert working_set_size(int(158.8 * MIB)) == 160 * MIB
    assert working_set_size(22 * MIB) == 22 * MIB
    assert working_set_size(int(22.1 * MIB)) == 23 * MIB
    assert working_set_size(int(9.01 * MIB)) == 10 * MIB
    assert working_set_size(100) == MIB  # at least 1 MiB


def test_the_machine_key_names_the_thread_count():
    assert machine_key("cpu", 3).endswith("| 3 threads") and machine_key("cpu", 3).startswith("cpu | ")


def test_a_figure_is_measured_once_then_reused(tmp_path):
    key = machine_key("cpu", 1)
    first, cached = remembered("read", SMALL, small_read, key, tmp_path)
    assert not cached
    written = (tmp_path / CACHE_NAME).read_text()
    again, cached = remembered("read", SMALL, small_read, key, tmp_path)
    assert cached and again == first
    assert (tmp_path / CACHE_NAME).read_text() == written  # not written again
    stored = json.loads(written)
    assert stored["format"] == FORMAT and stored["machines"][key]["read"][str(SMALL)]["rate"] == first.rate
    assert sorted(p.name for p in tmp_path.iterdir()) == [CACHE_NAME, CACHE_NAME + ".lock"]  # no temporary left


def test_refresh_measures_again_and_other_entries_stay(tmp_path):
    key = machine_key("cpu", 1)
    remembered("read", SMALL, small_read, key, tmp_path)
    remembered("read", MIB, lambda: measure_read(MIB, threads=1, seconds=0.05), key, tmp_path)
    _, cached = remembered("read", SMALL, small_read, key, tmp_path, refresh=True)
    assert not cached
    assert set(load_cache(tmp_path / CACHE_NAME).machines[key].read) == {SMALL, MIB}


def test_the_cache_folder_comes_from_asymprune_limits_dir_else_asymprune_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASYMPRUNE_CACHE", str(tmp_path / "here"))
    monkeypatch.setenv("ASYMPRUNE_LIMITS_DIR", str(tmp_path / "limits"))  # conftest sets it for every test
    assert cache_path() == tmp_path / "limits" / CACHE_NAME
    monkeypatch.delenv("ASYMPRUNE_LIMITS_DIR")
    assert cache_path() == tmp_path / "here" / CACHE_NAME


def _fake_figure():
    raise AssertionError("a damaged cache must not lead to a measurement")


@pytest.mark.parametrize("text,says", [
    ('{"format": "asymprune machine limits v1", "machines": {', "damaged"),   # cut short
    ("", "damaged"),
    ('{"format": "asymprune machine limits v1", "machines": {"m": {"read": {"1048576": {"rate": -3, "spread": 0, '
     '"median": 1, "samples": 5, "load": 0, "measured_at": "x", "torch": "2"}}}}}', "greater than 0"),
    ('{"format": "asymprune machine limits v1", "machines": {"m": {"read": {"1048576": {"rate": NaN, "spread": 0, '
     '"median": 1, "samples": 5, "load": 0, "measured_at": "x", "torch": "2"}}}}}', "damaged"),
    ('{"format": "asymprune machine limits v1", "machines": {"m": {"read": {"big": {"rate": 3, "spread": 0, '
     '"median": 1, "samples": 5, "load": 0, "measured_at": "x", "torch": "2"}}}}}', "damaged"),
    ('{"format": "something else", "machines": {}}', "of format 'something else'"),
])
def test_a_damaged_cache_file_is_an_error_and_is_left_alone(tmp_path, text, says):
    path = tmp_path / CACHE_NAME
    path.write_text(text)
    with pytest.raises(UsageError, match=says) as err:
        remembered("read", SMALL, _fake_figure, "m", tmp_path)
    assert str(path) in str(err.value) and "delete" in str(err.value)
    assert path.read_text() == text


def test_an_unreadable_cache_path_is_an_error(tmp_path):
    (tmp_path / CACHE_NAME).mkdir()
    with pytest.raises(UsageError, match="cannot read the machine-limits cache"):
        remembered("read", SMALL, _fake_figure, "m", tmp_path)


def _slow_figure():
    """A figure made slowly, so the two children overlap; the lock is what is tested, not a read."""
    import time
    time.sleep(0.5)
    return {"rate": 1.0, "median": 1.0, "spread": 0.0, "samples": 5, "load": 0.0, "measured_at": "now", "torch": "none"}


def _measure_in_child(folder: str, queue) -> None:
    _, cached = remembered("read", SMALL, _slow_figure, "race", folder)
    queue.put(cached)


def test_two_processes_measure_once_between_them(tmp_path):
    ctx = mp.get_context("fork")  # the children run no torch: only the cache, its lock and the file
    queue = ctx.Queue()
    procs = [ctx.Process(target=_measure_in_child, args=(str(tmp_path), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == [False, True]  # the lock makes the second wait, then find the first's figure
    assert list(load_cache(tmp_path / CACHE_NAME).machines["race"].read) == [SMALL]


def test_read_bandwidth_has_both_regimes_figures(tmp_path):
    from asymprune.hardware import read_bandwidth
    bw = read_bandwidth(3 * MIB, threads=1, cache_dir=tmp_path)
    assert isinstance(bw, Bandwidth) and bw.regime in ("cache", "dram")
    assert bw.bytes == 3 * MIB and bw.dram_bytes >= 2 ** 30
    assert all(r > 0 and math.isfinite(r) for r in (bw.gb_s, bw.dram_gb_s))
    again = read_bandwidth(3 * MIB, threads=1, cache_dir=tmp_path)
    assert again == bw  # both figures reused
