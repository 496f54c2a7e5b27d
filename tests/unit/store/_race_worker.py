"""A process of test_races.py: opens the store, waits at the barrier with the others, then creates
the same records as they do at the same moment (kept in a module so ``spawn`` can import it)."""

from __future__ import annotations

from typing import Any


def create_same(url: str, rounds: int, barrier: Any, results: Any, tag: str) -> None:
    from mmstudio.store import Store

    out: list[tuple[int, int, int, int]] = []
    try:
        with Store.open(url) as store:
            for r in range(rounds):
                barrier.wait(timeout=60)
                dataset = store.ensure_dataset(
                    name=f"set {r}", path=f"/data/{r}", format="manifest", fingerprint=f"fp-{r}", item_count=3
                )
                experiment = store.ensure_experiment(f"experiment {r}")
                barrier.wait(timeout=60)
                run = store.create_run(name=tag, experiment=f"by run {r}", dataset_id=dataset.id)
                store.log_metrics(run, [(f"key/{r}", 0, None, 1.0, None)])
                out.append((dataset.id, experiment.id, store.get_run(run).experiment_id, run))
        results.put((tag, out, None))
    except BaseException as exc:  # the parent asserts on it
        results.put((tag, out, f"{type(exc).__name__}: {exc}"))


def open_new(url: str, barrier: Any, results: Any, tag: str) -> None:
    from mmstudio.store import Store

    try:
        barrier.wait(timeout=60)
        with Store.open(url) as store:
            results.put((tag, store.create_run(name=tag), None))
    except BaseException as exc:
        results.put((tag, None, f"{type(exc).__name__}: {exc}"))
