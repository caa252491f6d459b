"""Sample scenes for the demo and the tests: real photos bundled with scikit-image.

astronaut and rocket are public domain (NASA); chelsea the cat and coffee are CC0.
"""
from __future__ import annotations

import io

from PIL import Image

PHOTOS = ("astronaut", "rocket", "chelsea", "coffee")

SCENES: list[dict[str, str]] = [
    {"name": "우주인 아저씨", "i_action": "우주 여행을 준비하다", "classification": "자연탐구",
     "setting": "우주 센터", "feeling": "설레다", "prediction": "곧 하늘로 떠나다"},
    {"name": "로켓", "i_action": "하늘 높이 날아오르다", "classification": "자연탐구",
     "setting": "발사대", "causalRelationship": "엔진에 불이 붙었다", "outcomeResolution": "구름 위로 올라갔다"},
    {"name": "고양이 첼시", "i_action": "창밖을 바라보다", "classification": "사회관계",
     "character": "우주인 아저씨", "feeling": "궁금하다", "prediction": "우주인 아저씨가 돌아오다"},
    {"name": "우주인 아저씨", "i_action": "따뜻한 커피를 마시다", "classification": "의사소통",
     "setting": "집", "feeling": "편안함", "outcomeResolution": "모두 행복해졌다"},
]
TITLE = "우주인 아저씨와 고양이 첼시"
AGE = "초등 저학년"  # the reader age band the demo book is written for
STYLE = "watercolor"  # the picture style the demo asks for, when the server draws
DEDICATION = "우주를 좋아하는 친구에게"


def photo_bytes(name: str, fmt: str = "JPEG") -> bytes:
    """One bundled sample photo encoded as `fmt`."""
    from skimage import data  # imported late: only the demo and tests need it

    array = getattr(data, name)()
    buffer = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(buffer, fmt, quality=90)
    return buffer.getvalue()


def sample_photos() -> list[tuple[str, bytes]]:
    """(filename, JPEG bytes) for every sample photo, in story order."""
    return [(f"{name}.jpg", photo_bytes(name)) for name in PHOTOS]
