"""The model backends: captioners, translators, story writers, keyword suggesters and their loading.

Nothing here imports torch or transformers at module level; models load lazily, once per
process, in the first task that needs them (`loading.cached`).
"""
