"""Pages drawn per second by the offline `filter` illustrator, per style, from 12-megapixel phone photos.

    .venv/bin/python bench/illustration.py [--photos 10] [--repeat 3] [--threads N] [--diffusers [ARGS...]]

The photos are generated (shared.synthetic): 4000x3000 JPEGs with sensor-like noise, some of them
portraits stored sideways with an EXIF orientation, as a phone held upright stores them.
Generating them is not timed. Each is then reduced as the draw stage does (shared.decoding.open_upright
at the filter's FILTER_SIDE: JPEG draft decode, EXIF turned upright, thumbnail to 1600 px on the long
side, so 1600x1200 or 1200x1600 pages), timed on its own, and the pages are drawn in each style
with `FilterIllustrator.draw`, one page a call, timed page by page. Each style is drawn once
untimed first (the first call pays for OpenCV's lazy set-up, as a worker's first book does).

Per style: pages per second (wall), the median and slowest page in seconds, and CPU seconds a
page (all threads together; above the wall time when OpenCV's threads ran in parallel).
--threads sets cv2.setNumThreads (the worker leaves OpenCV's default: one thread a core).
Goal: under 1 s a page at print size (1600x1200) on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402

from shared.decoding import open_upright  # noqa: E402
from shared.styles import DRAWN, STYLES  # noqa: E402
from shared.synthetic import phone_jpeg  # noqa: E402
from worker.illustration.backends import FILTER_SIDE  # noqa: E402
from worker.illustration.base import PageToDraw  # noqa: E402
from worker.illustration.filter import FilterIllustrator  # noqa: E402

ORIENTATIONS = (1, 6, 1, 8, 3, 6, 1, 6, 8, 1)  # a mix of upright and sideways phone shots


def make_photos(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        orientation = ORIENTATIONS[i % len(ORIENTATIONS)]
        # Held upright (EXIF 6 or 8) the phone stores 4000x3000 pixels of a 3000x4000 portrait picture.
        width, height = (3000, 4000) if orientation in (6, 8) else (4000, 3000)
        path = folder / f"photo{i + 1:02d}.jpg"
        path.write_bytes(phone_jpeg(width, height, seed=i, orientation=orientation))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=10, help="pages in the book (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per style; the figures are over all of them")
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's own)")
    parser.add_argument("--diffusers", nargs=argparse.REMAINDER, default=None, metavar="ARGS",
                        help="then, in the same run, bench/illustration_diffusers.py with ARGS (full-size SD 1.5 shapes, "
                             "batched against one page at a time); its ratio= line comes last")
    args = parser.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)

    illustrator = FilterIllustrator()
    print(f"{args.photos} photos of 12 MP (4000x3000 JPEG), reduced to {FILTER_SIDE} px on the long side; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, OpenCV {cv2.__version__} "
          f"with {cv2.getNumThreads()} threads, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="illustration-bench-") as tmp:
        photos = make_photos(Path(tmp), args.photos)
        reduce_seconds = []
        pages = []
        for i, path in enumerate(photos):
            start = time.perf_counter()
            picture = open_upright(path, FILTER_SIDE)
            reduce_seconds.append(time.perf_counter() - start)
            pages.append(PageToDraw(picture=picture, caption="", seed=1000 + i))
    sizes = sorted({f"{p.picture.width}x{p.picture.height}" for p in pages})
    print(f"reduce (decode with draft, upright, thumbnail): median {statistics.median(reduce_seconds):.3f} s a photo; "
          f"pages {', '.join(sizes)}")

    rows = []
    for style_id in DRAWN:
        style = STYLES[style_id]
        illustrator.draw(pages[:1], style)  # warm-up, untimed
        seconds: list[float] = []
        cpu_start = time.process_time()
        wall_start = time.perf_counter()
        for _ in range(args.repeat):
            for page in pages:
                start = time.perf_counter()
                (drawn,) = illustrator.draw([page], style)
                seconds.append(time.perf_counter() - start)
                assert drawn.size == page.picture.size
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        rows.append((f"{style_id} ({style.label})", len(seconds) / wall, statistics.median(seconds), max(seconds),
                     cpu / len(seconds)))

    print(f"\n{'style':<22}{'pages/s':>9}{'median s':>10}{'slowest s':>11}{'CPU s/page':>12}")
    for label, rate, median, slowest, cpu in rows:
        # Korean labels are two columns wide in a terminal: pad by characters, not by width.
        print(f"{label:<{22 - sum(1 for c in label if ord(c) > 0x1100)}}{rate:>9.2f}{median:>10.3f}{slowest:>11.3f}{cpu:>12.3f}")
    print("\ngoal: under 1 s a page at print size on 2 cores")
    if args.diffusers is not None:
        import illustration_diffusers  # bench/ is on the path as this script's own folder

        print("\ndiffusers (random weights, CPU), side by side in this run:", flush=True)
        illustration_diffusers.main(args.diffusers)


if __name__ == "__main__":
    main()
