"""The `talesrunner` command line: migrations, web, worker, demo, tiny models."""
