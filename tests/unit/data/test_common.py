from __future__ import annotations

import gc
import weakref

from mmstudio.data._common import release


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
