"""Training and evaluation of the KoT5 story model: data set build, fine-tuning, metrics.

It imports the worker's own model code (`worker.ml`), so training inputs, tokenization and
decoding cannot drift from what the service runs. The web tier never imports this package.
"""
