"""Image files read and trimmed by their structure (JPEG markers, PNG chunks), no pixel decoded.

Two uses: what a JPEG costs libjpeg to decode, read from its frame and first scan header
(shared/decoding.py), and an upload stored without its metadata. A phone photo carries GPS
position, camera serial numbers and maker notes; a hostile one a 64 KB comment that breaks
Pillow's JPEG writer ("broken data stream") when a copy inherits it. What the book needs is kept:
the EXIF orientation (as a minimal EXIF of that one tag) and the colour profile.
"""
from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator

from PIL import Image

# Start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), the progressive ones, start of scan.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_SOS, _COM, _APP0, _APP2, _APP14 = 0xDA, 0xFE, 0xE0, 0xE2, 0xEE
COEFFICIENT_BYTES = 2 * 64  # one 8x8 block of 16-bit DCT coefficients
# A colour profile bigger than this is not a camera's or a phone's (those are 0.5-4 KB): dropped.
MAX_ICC_BYTES = 1 << 20
_EXIF_ORIENTATION = 0x0112
# A marker inside entropy-coded data: FF, not followed by a stuffed 00, a restart marker or fill.
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start of the marker, end of its segment) for every marker up to and including the first scan header."""
    if data[:2] != b"\xff\xd8":
        return
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        end = position + 2 + int.from_bytes(data[position + 2:position + 4], "big")
        yield marker, position, end
        if marker == _SOS:
            return
        position = end


def jpeg_coefficient_bytes(data: bytes) -> int:
    """The whole-image coefficient buffer libjpeg allocates for this JPEG; 0 for a single-scan one.

    libjpeg buffers every coefficient when the file has several scans: progressive frames always,
    sequential ones whose first scan holds fewer components than the frame. Read from the markers
    up to the first scan header; a file that is not a JPEG, or is cut before it, counts 0 here
    (the decode check refuses it).
    """
    frame = None
    for marker, start, end in _segments(data):
        segment = data[start + 4:end]
        if marker in _SOF and len(segment) >= 6:
            frame = _frame(marker, segment)
        elif marker == _SOS and frame is not None and segment:
            progressive, components, blocks = frame
            return blocks * COEFFICIENT_BYTES if progressive or segment[0] < components else 0
    return 0


def _frame(marker: int, segment: bytes) -> tuple[bool, int, int]:
    """(progressive, component count, 8x8 blocks libjpeg keeps for the whole image) of a frame header."""
    height, width, count = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big"), segment[5]
    factors = [(segment[7 + 3 * i] >> 4, segment[7 + 3 * i] & 0x0F) for i in range(count) if 8 + 3 * i < len(segment)]
    if not factors:
        return marker in _PROGRESSIVE, count, 0
    h_max, v_max = max(h for h, _ in factors) or 1, max(v for _, v in factors) or 1
    blocks = 0
    for h, v in factors:
        # As libjpeg sizes its virtual arrays: the component's blocks, rounded up to whole sampling units.
        across = math.ceil(math.ceil(width * h / h_max) / 8)
        down = math.ceil(math.ceil(height * v / v_max) / 8)
        blocks += _round_up(across, max(h, 1)) * _round_up(down, max(v, 1))
    return marker in _PROGRESSIVE, count, blocks


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def jpeg_without_metadata(data: bytes, orientation: int = 1) -> bytes:
    """The same JPEG (not re-encoded) without comments, EXIF, XMP, maker and MPO segments, or trailing data.

    Kept: the JFIF header, the Adobe segment (it says how CMYK/YCCK colours are stored), the ICC
    profile up to MAX_ICC_BYTES, every table and scan, and the EXIF orientation (1-8) as an EXIF
    of that tag alone. Anything after the image's end (an MPO's second frame, junk) is cut. Data
    that does not parse as a JPEG is returned unchanged.
    """
    jfif: list[bytes] = []
    icc: list[bytes] = []
    tables: list[bytes] = []  # Adobe, quantisation and Huffman tables, the frame, restart interval: in file order
    scan = None
    for marker, start, end in _segments(data):
        segment = data[start:end]
        body = segment[4:]
        if marker == _SOS:
            scan = start
            break
        if marker == _APP0 and body.startswith(b"JFIF\x00") and not jfif:
            jfif.append(segment)
        elif marker == _APP2 and body.startswith(b"ICC_PROFILE\x00"):
            icc.append(segment)
        elif (marker == _APP14 and body.startswith(b"Adobe")) or not (0xE0 <= marker <= 0xEF or marker == _COM):
            tables.append(segment)
    if scan is None:
        return data
    turn = [_orientation_segment(orientation)] if orientation in range(2, 9) else []
    if sum(len(part) for part in icc) > MAX_ICC_BYTES:
        icc = []
    return b"".join([b"\xff\xd8", *jfif, *turn, *icc, *tables, data[scan:_image_end(data, scan)]])


def _image_end(data: bytes, position: int) -> int:
    """Where the image that starts its scans at `position` ends: after its EOI (the file's end if it has none).

    Scan data holds 0xFF only stuffed (FF 00) or as a restart marker; every other marker between
    scans (tables, the next scan header) is skipped by its length, so a table's bytes never read as an end.
    """
    while True:
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")  # the scan header or a table
        found = _MARKER_IN_SCAN.search(data, position)
        if found is None:
            return len(data)
        position = found.start()
        if data[position + 1] == 0xD9:
            return position + 2


def _orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = orientation
    payload = exif.tobytes()  # b"Exif\0\0" and a TIFF block with the one tag
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Text and time chunks: comments, software, camera and editing history. Nothing the pixels need.
_PNG_DROPPED = frozenset({b"tEXt", b"zTXt", b"iTXt", b"tIME"})


def png_without_metadata(data: bytes) -> bytes:
    """The same PNG (not re-encoded) without its text and time chunks, nor anything after IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        return data
    kept, position = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        end = position + 12 + length
        if end > len(data):
            return data
        if kind not in _PNG_DROPPED:
            kept.append(data[position:end])
        position = end
        if kind == b"IEND":
            return b"".join(kept)
    return data
