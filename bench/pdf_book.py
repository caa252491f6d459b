"""Time and size of the PDF stage for a 10-scene book of 12-megapixel phone photos.

    .venv/bin/python bench/pdf_book.py [--scenes 10] [--page-size A5] [--repeat 3]

Each round renders the book from a cold photo cache (first build), then edits one page's text
and renders again (the rebuild a PATCH of a scene triggers), side by side. The photos are
generated (shared.synthetic): 4000x3000 JPEGs with sensor-like noise, some of them
portraits stored sideways with an EXIF orientation, as a phone held upright stores them; a
"typical" set (smooth, 3 MB each) and a "detailed" set covered in fine speckles that survive
scaling down (6.5 MB each), the worst case for the book's size. Generating them is not timed.
Goal (issue 4): under 3 s and under 6 MB.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.synthetic import phone_jpeg  # noqa: E402
from worker.book.pdf import BookSpec, Page, RenderReport, render_book  # noqa: E402

ORIENTATIONS = (1, 6, 1, 8, 3, 6, 1, 6, 8, 1)  # a mix of upright and sideways phone shots
PARAGRAPH = (
    "첼시는 아침 햇살을 받으며 창가에 앉아 있었어요. 하늘에는 하얀 구름이 천천히 흘러갔지요. "
    "첼시는 우주인 아저씨가 오늘은 어디까지 날아갔을지 궁금했어요. 조금 뒤, 저 멀리서 반짝이는 "
    "빛이 보였어요. 첼시는 꼬리를 살랑살랑 흔들며 아저씨를 기다렸답니다."
)


def make_photos(folder: Path, count: int, texture: bool = False) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        orientation = ORIENTATIONS[i % len(ORIENTATIONS)]
        path = folder / f"photo{i + 1:02d}.jpg"
        # Held upright (EXIF 6 or 8) the phone stores 4000x3000 pixels of a 3000x4000 portrait picture.
        width, height = (3000, 4000) if orientation in (6, 8) else (4000, 3000)
        path.write_bytes(phone_jpeg(width, height, seed=i, orientation=orientation, texture=texture))
        paths.append(path)
    return paths


def book(photos: list[Path], edited: int | None = None) -> BookSpec:
    pages = [
        Page(index=i + 1, image_path=path, text=("고친 문장이에요. " if edited == i + 1 else "") + PARAGRAPH)
        for i, path in enumerate(photos)
    ]
    return BookSpec(title="첼시와 우주인 아저씨", protagonist="고양이 첼시", made_on=date.today(), pages=pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=10)
    parser.add_argument("--page-size", default="A5", choices=("A5", "square"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows: list[tuple[str, list[RenderReport]]] = []
    with tempfile.TemporaryDirectory(prefix="pdf-bench-") as tmp:
        work = Path(tmp)
        print(f"{args.scenes} photos of 4000x3000 JPEG per book; page size {args.page_size}; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        for label, texture in (("typical", False), ("detailed", True)):
            photos = make_photos(work / label, args.scenes, texture)
            source_mb = sum(p.stat().st_size for p in photos) / 1e6
            print(f"{label} photos: {source_mb:.1f} MB in all" + ("; fine speckles that survive scaling (worst case for size)" if texture else ""))
            # Warm-up: fonts are parsed and registered once per worker process, not per book.
            render_book(book(photos[:1]), work / "warm.pdf", work / "warm-cache", page_size=args.page_size)
            first: list[RenderReport] = []
            again: list[RenderReport] = []
            for round_ in range(args.repeat):
                cache = work / f"print-{label}-{round_}"
                first.append(render_book(book(photos), work / "first.pdf", cache, page_size=args.page_size))
                before = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
                again.append(render_book(book(photos, edited=3), work / "again.pdf", cache, page_size=args.page_size))
                assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == before, "rebuild rewrote cached photos"
                shutil.rmtree(cache)
            rows += [(f"{label}: first build", first), (f"{label}: rebuild after edit", again)]

    print(f"\n{'build':<32}{'median s':>10}{'min s':>8}{'MB':>7}{'pages':>7}{'photos scaled':>15}{'reused':>8}")
    for label, reports in rows:
        seconds = [r.seconds for r in reports]
        last = reports[-1]
        print(f"{label:<32}{statistics.median(seconds):>10.2f}{min(seconds):>8.2f}{last.bytes / 1e6:>7.2f}"
              f"{last.pages:>7}{last.photos_made:>15}{last.photos_reused:>8}")
    print("\ngoal: under 3 s and under 6 MB for a 10-scene book")


if __name__ == "__main__":
    main()
