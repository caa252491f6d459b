"""The package document and the container: the book's metadata (OPF: identifier, title, dates,
narrator, durations), its manifest and spine, the nav document, style sheet and container.xml,
the Jinja2 environment that renders every text file of the book (with the page and overlay
templates from their modules), and the zip writer that lays it all out as an OCF container.
"""
from __future__ import annotations

import os
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from shared.vocabulary import korean_date
from worker.book.epub.overlays import ACTIVE_CLASS, _OVERLAY_TEMPLATES, _clock, _ms, clean_text
from worker.book.epub.ends import (
    _END_TEMPLATES, ACCENTS, INK, ORNAMENTS, PAPER, SOFT_INK, TITLE_INK, _Cover, _end_values, _Ending,
)
from worker.book.epub.pages import HEIGHT, WAVE, WIDTH, _PAGE_TEMPLATES, _Doc, _Image, _Type

if TYPE_CHECKING:
    from worker.book.epub import EpubSpec

# dc:identifier is urn:uuid:uuid5(this namespace, book id): the same book keeps its identity
# across rebuilds, so a reader app updates its copy instead of adding a second one.
BOOK_NAMESPACE = uuid.UUID("6f0b7a52-3c1e-5d8a-9f47-2b9e1c4d7a10")


def _book_metadata(spec: EpubSpec, title: str, narrated: bool, kind: _Type) -> dict:
    modified = (spec.modified or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    made_on = spec.made_on
    return {
        "title": title, "protagonist": clean_text(spec.protagonist), "author": clean_text(spec.author) or "TalesRunner",
        "made_on": made_on, "made_on_text": korean_date(made_on),
        "identifier": f"urn:uuid:{uuid.uuid5(BOOK_NAMESPACE, str(spec.book_id))}",
        "modified": modified.strftime("%Y-%m-%dT%H:%M:%SZ"), "modified_at": modified,
        "narrator": clean_text(spec.narrator_label or "") if narrated else "",
        "width": WIDTH, "height": HEIGHT, "wave": WAVE, "active_class": ACTIVE_CLASS, "type": kind,
        "colours": {"ink": INK, "title": TITLE_INK, "soft": SOFT_INK, "paper": PAPER, "accents": ACCENTS},
    }


def _render(book: dict, cover: _Cover, ending: _Ending, docs: list[_Doc], images: list[_Image],
            cover_image: _Image | None, audio: list[str]) -> dict[str, bytes]:
    """The text files of the book, by their names in the zip."""
    env = _templates()
    overlays = [doc for doc in docs if doc.clips]
    ends = _end_values()
    files = {
        "META-INF/container.xml": env.get_template("container.xml").render(),
        "OEBPS/style.css": env.get_template("style.css").render(book=book, **ends),
        "OEBPS/cover.xhtml": env.get_template("cover.xhtml").render(book=book, cover=cover, **ends),
        "OEBPS/end.xhtml": env.get_template("end.xhtml").render(book=book, ending=ending, **ends),
        "OEBPS/nav.xhtml": env.get_template("nav.xhtml").render(book=book, scenes=[doc for doc in docs if not doc.continued]),
        **{f"OEBPS/{href}": svg for href, svg in ORNAMENTS.items()},
    }
    for doc in docs:
        files[f"OEBPS/{doc.name}.xhtml"] = env.get_template("page.xhtml").render(book=book, doc=doc)
    for doc in overlays:
        files[f"OEBPS/{doc.name}.smil"] = env.get_template("overlay.smil").render(doc=doc, clock=_clock)
    files["OEBPS/package.opf"] = env.get_template("package.opf").render(
        book=book, docs=docs, images=images, cover_image=cover_image, audio=audio, overlays=overlays,
        ornaments=sorted(ORNAMENTS), total=sum(_ms(doc.duration) for doc in overlays) / 1000, clock=_clock,
    )
    return {name: text.encode() for name, text in files.items()}


def _write_zip(files: dict[str, bytes], out: Path, modified: datetime) -> None:
    """The OCF container: `mimetype` first and stored, the rest after; written beside `out`, then renamed."""
    stamp = modified.timetuple()[:6]
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".epub")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(zipfile.ZipInfo("mimetype", stamp), b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
            for name in sorted(files, key=lambda n: (not n.startswith("META-INF/"), n)):
                # Photos and audio are compressed already; deflating them again costs time for nothing.
                stored = name.endswith((".jpg", ".png", ".mp3"))
                info = zipfile.ZipInfo(name, stamp)
                archive.writestr(info, files[name], compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _text_html(text: str) -> Markup:
    """Escaped text with the parent's line breaks as <br/>."""
    return Markup("<br/>").join(escape(line) for line in text.split("\n"))


def _templates() -> Environment:
    env = Environment(
        loader=DictLoader({**_TEMPLATES, **_PAGE_TEMPLATES, **_END_TEMPLATES, **_OVERLAY_TEMPLATES}),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["html"] = _text_html
    return env


_TEMPLATES = {
    "container.xml": """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/package.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
""",
    "style.css": """@font-face { font-family: "TalesBook"; font-weight: normal; src: url("fonts/book-regular.ttf"); }
@font-face { font-family: "TalesBook"; font-weight: bold; src: url("fonts/book-bold.ttf"); }
html, body { margin: 0; padding: 0; width: {{ book.width }}px; height: {{ book.height }}px; overflow: hidden; }
body { font-family: "TalesBook", sans-serif; color: {{ book.colours.ink }}; background: {{ book.colours.paper }}; }
.page { position: relative; width: {{ book.width }}px; height: {{ book.height }}px; overflow: hidden;
  background: {{ book.colours.paper }}; }
.picture { position: absolute; left: 0; width: {{ book.width }}px; overflow: hidden; }
.picture img, .window img { position: absolute; display: block; max-width: none; }
.wave { position: absolute; left: 0; width: {{ book.width }}px; height: {{ book.wave + 2 }}px; display: block; }
.wave.mirror { transform: scaleX(-1); }
.wave.flip { transform: scaleY(-1); }
.story { position: absolute; left: {{ (book.width - book.type.measure) // 2 }}px; width: {{ book.type.measure }}px; margin: 0;
  line-height: {{ book.type.leading }}; text-align: {{ "center" if book.type.centred else "left" }};
  word-break: keep-all; overflow-wrap: break-word; }
.folio { position: absolute; left: {{ book.width // 2 - 22 }}px; bottom: 26px; width: 44px; height: 44px;
  border-radius: 22px; font-size: 21px; line-height: 44px; text-align: center; color: {{ book.colours.soft }}; }
{% for colour in book.colours.accents %}
.dot-{{ loop.index0 }} { background: {{ colour }}; }
{% endfor %}
.blob { position: absolute; border-radius: 50%; }
.cover-words { position: absolute; left: {{ (book.width - cover_measure) // 2 }}px; width: {{ cover_measure }}px;
  text-align: center; }
.title { margin: 0 0 {{ title_gap }}px 0; line-height: {{ title_leading }}; font-weight: bold; color: {{ book.colours.title }};
  word-break: keep-all; overflow-wrap: break-word; }
.byline { margin: 0 0 {{ line_gap }}px 0; font-size: {{ byline_size }}px; line-height: {{ line_leading }};
  color: {{ book.colours.soft }}; word-break: keep-all; overflow-wrap: break-word; }
.small { margin: 0; font-size: {{ small_size }}px; line-height: {{ line_leading }}; color: {{ book.colours.soft }}; }
.garland { position: absolute; display: block; }
.window { position: absolute; overflow: hidden; border-style: solid; border-color: #ffffff; border-radius: 50%;
  box-shadow: 2px 5px 14px rgba(140, 115, 90, 0.3); }
.the-end { position: absolute; left: 0; width: {{ book.width }}px; margin: 0; line-height: 1; text-align: center;
  font-weight: bold; color: {{ book.colours.title }}; }
.rule { position: absolute; left: {{ book.width // 2 - 60 }}px; width: 120px; height: 4px; border-radius: 2px;
  background: {{ book.colours.accents[0] }}; }
.dedication { position: absolute; left: {{ (book.width - dedication_measure) // 2 }}px; width: {{ dedication_measure }}px;
  margin: 0; line-height: {{ dedication_leading }};
  text-align: center; color: {{ book.colours.soft }}; word-break: keep-all; overflow-wrap: break-word; }
.{{ book.active_class }} { background-color: #fbe2a0; border-radius: 6px; }
""",
    "nav.xhtml": """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="ko" lang="ko">
<head>
<meta charset="UTF-8"/>
<title>{{ book.title }}</title>
</head>
<body>
<nav epub:type="toc" id="toc">
<h1>차례</h1>
<ol>
<li><a href="cover.xhtml">표지</a></li>
{% for doc in scenes %}
<li><a href="{{ doc.name }}.xhtml">{{ loop.index }}쪽</a></li>
{% endfor %}
<li><a href="end.xhtml">끝</a></li>
</ol>
</nav>
<nav epub:type="landmarks" id="landmarks" hidden="hidden">
<ol>
<li><a epub:type="cover" href="cover.xhtml">표지</a></li>
{% if scenes %}
<li><a epub:type="bodymatter" href="{{ scenes[0].name }}.xhtml">이야기</a></li>
{% endif %}
<li><a epub:type="backmatter" href="end.xhtml">끝</a></li>
</ol>
</nav>
</body>
</html>
""",
    "package.opf": """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="book-id" xml:lang="ko">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="book-id">{{ book.identifier }}</dc:identifier>
    <dc:title>{{ book.title }}</dc:title>
    <dc:language>ko</dc:language>
    <dc:creator>{{ book.author }}</dc:creator>
    <dc:date>{{ book.made_on.isoformat() }}</dc:date>
    <meta property="dcterms:modified">{{ book.modified }}</meta>
    <meta property="rendition:layout">pre-paginated</meta>
    <meta property="rendition:orientation">auto</meta>
    <meta property="rendition:spread">landscape</meta>
{% if overlays %}
    <meta property="media:active-class">{{ book.active_class }}</meta>
{% if book.narrator %}
    <meta property="media:narrator">{{ book.narrator }}</meta>
{% endif %}
{% for doc in overlays %}
    <meta property="media:duration" refines="#overlay-{{ doc.name }}">{{ clock(doc.duration) }}</meta>
{% endfor %}
    <meta property="media:duration">{{ clock(total) }}</meta>
{% endif %}
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="style" href="style.css" media-type="text/css"/>
    <item id="font-regular" href="fonts/book-regular.ttf" media-type="application/font-sfnt"/>
    <item id="font-bold" href="fonts/book-bold.ttf" media-type="application/font-sfnt"/>
    <item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>
{% for href in ornaments %}
    <item id="ornament-{{ loop.index }}" href="{{ href }}" media-type="image/svg+xml"/>
{% endfor %}
{% for image in images %}
    <item id="image-{{ loop.index }}" href="{{ image.href }}" media-type="{{ image.media_type }}"{% if image is sameas cover_image %} properties="cover-image"{% endif %}/>
{% endfor %}
{% for doc in docs %}
    <item id="{{ doc.name }}" href="{{ doc.name }}.xhtml" media-type="application/xhtml+xml"{% if doc.clips %} media-overlay="overlay-{{ doc.name }}"{% endif %}/>
{% if doc.clips %}
    <item id="overlay-{{ doc.name }}" href="{{ doc.name }}.smil" media-type="application/smil+xml"/>
{% endif %}
{% endfor %}
    <item id="end" href="end.xhtml" media-type="application/xhtml+xml"/>
{% for href in audio %}
    <item id="audio-{{ loop.index }}" href="{{ href }}" media-type="audio/mpeg"/>
{% endfor %}
  </manifest>
  <spine page-progression-direction="ltr">
    <itemref idref="cover" properties="rendition:page-spread-center"/>
{% for doc in docs %}
    <itemref idref="{{ doc.name }}" properties="{{ 'page-spread-left' if loop.index is odd else 'page-spread-right' }}"/>
{% endfor %}
    <itemref idref="end" properties="{{ 'page-spread-left' if docs|length is even else 'page-spread-right' }}"/>
  </spine>
</package>
""",
}
