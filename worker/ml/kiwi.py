"""One Kiwi morphological analyser per worker process (its model ships on PyPI)."""
from __future__ import annotations

from functools import lru_cache

from kiwipiepy import Kiwi


@lru_cache(maxsize=1)
def get_kiwi() -> Kiwi:
    return Kiwi()
