"""Errors the pipeline stages and their backends share."""
from __future__ import annotations


class StageError(Exception):
    """A failure a person can act on; the message is shown on the book."""


def model_load_error(what: str, name: str, setting: str, exc: BaseException) -> StageError:
    """A StageError for a model that could not be loaded, saying which setting to fix."""
    return StageError(
        f"could not load the {what} from '{name}' ({type(exc).__name__}: {exc}); set {setting} to a local "
        "model directory (or run `talesrunner make-tiny-models DIR` for small test models)"
    )
