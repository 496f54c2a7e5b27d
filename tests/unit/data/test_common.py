from __future__ import annotations

import gc
import random
import weakref

from mmstudio.data._common import release, sorted_gently


class _Thing:
    pass


def test_release_empties_lists_and_frees_what_only_they_held():
    kept = _Thing()
    first = [_Thing() for _ in range(5000)] + [kept]
    second = [_Thing() for _ in range(3)]
    watched = [weakref.ref(x) for x in first[:-1] + second]
    gc.disable()  # freed by reference counting, not by a collection
    try:
        release(first, second)
        assert first == [] and second == []
        assert all(ref() is None for ref in watched)
    finally:
        gc.enable()
    assert isinstance(kept, _Thing)


def test_sorted_gently_is_sorted_and_stable():
    rng = random.Random(0)
    values = [(rng.randrange(500), n) for n in range(20_000)]  # many ties on the key
    assert sorted_gently(values, key=lambda v: v[0]) == sorted(values, key=lambda v: v[0])
    words = [f"/data/images/{rng.randrange(10**6):07d}.png" for _ in range(9000)]
    assert sorted_gently(words) == sorted(words)
    assert sorted_gently([3, 1, 2]) == [1, 2, 3] and sorted_gently([]) == []
