"""Code used by both the web tier and the workers: config, models, storage, schemas."""
