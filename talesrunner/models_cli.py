"""The `talesrunner models` subcommands: `import` (a training checkpoint -> a model folder) and `fetch`
(the hub models the settings name -> one folder each). Only argparse here; each command imports its
libraries late. `convert` (CTranslate2) registers itself beside these in talesrunner/cli.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _import(args: argparse.Namespace) -> int:
    from training.importing import ImportFailed, import_checkpoint

    try:
        result = import_checkpoint(Path(args.checkpoint), Path(args.out), args.base, revision=args.revision or None)
    except ImportFailed as exc:
        print(f"models import: {exc}", file=sys.stderr)
        return 2
    print(f"imported {result.tensors} tensors ({result.parameters:,} parameters, {result.dtype}) into {result.out_dir}"
          + ("; the 12 field markers were added to the tokenizer of --base" if result.markers_added else ""))
    if result.aliases:
        print(f"tied weights filled from one tensor: {', '.join(f'{k} <- {v}' for k, v in sorted(result.aliases.items()))}")
    if result.ignored:
        print(f"left out (the model class ignores them when loading): {', '.join(result.ignored)}")
    print(f"TALES_KOT5_DIR={result.out_dir.resolve()}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from talesrunner.fetch import FetchError, fetch_models, settings_to_use

    only = {key.strip() for key in args.only.split(",") if key.strip()} if args.only else None
    directory = Path(args.directory)
    try:
        results = fetch_models(get_settings(), directory, only=only)
    except FetchError as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 2
    for line in settings_to_use(results, directory):
        print(line)
    return 0


def add_commands(models: argparse._SubParsersAction) -> None:
    """Register `models import` and `models fetch` on the `models` group's subparsers."""
    from talesrunner.fetch import SLOTS

    imp = models.add_parser("import", help="a training checkpoint (.pt state dict) -> a model folder the worker loads")
    imp.add_argument("checkpoint", help="e.g. kot5_checkpoint_final.pt: a state dict, or a dict holding one under "
                                        "model_state_dict or state_dict")
    imp.add_argument("out", help="the model folder to write (new or empty)")
    imp.add_argument("--base", required=True,
                     help="the folder (or hub id) whose config and tokenizer the checkpoint was trained with, "
                          "e.g. the KoT5-base that `models fetch` puts in DIR/kot5-base")
    imp.add_argument("--revision", help="hub revision of --base when it is a hub id")
    imp.set_defaults(func=_import)

    fetch = models.add_parser("fetch", help="download the hub models the settings name into DIR, one folder each")
    fetch.add_argument("directory")
    fetch.add_argument("--only", help=f"comma-separated: {', '.join(slot.key for slot in SLOTS)}")
    fetch.set_defaults(func=_fetch)
