"""Typed configuration, read once from the environment (docs/architecture.md, "Configuration")."""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.audio_input import MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = REPO_ROOT / "instance"
# The default, which every entry point refuses: anyone who knows it can forge sessions, CSRF tokens and
# signed links. Keys shorter than SECRET_KEY_MIN_LENGTH are refused too.
DEV_SECRET_KEY = "dev-only-change-me"
SECRET_KEY_MIN_LENGTH = 32


class Settings(BaseSettings):
    """Every knob of the service; names are the environment variables in docs/configuration.md."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    DATABASE_URL: str = f"sqlite:///{INSTANCE_DIR / 'talesrunner.db'}"
    REDIS_URL: str = "redis://localhost:6379/0"
    DATA_DIR: Path = INSTANCE_DIR / "data"
    SECRET_KEY: str = DEV_SECRET_KEY

    # Where uploads, print copies and PDFs live: a local directory (DATA_DIR, one host) or an
    # S3-compatible bucket that web and workers on different hosts share.
    TALES_STORAGE: Literal["local", "s3"] = "local"
    TALES_S3_BUCKET: str | None = None
    TALES_S3_ENDPOINT_URL: str | None = None  # MinIO and other S3-compatible servers; empty for AWS
    TALES_S3_PREFIX: str = ""
    # Presigned links are signed for this address (what browsers reach), when it differs from
    # TALES_S3_ENDPOINT_URL (what the servers reach, e.g. http://minio:9000 inside compose).
    TALES_S3_PUBLIC_ENDPOINT_URL: str | None = None
    # PDF downloads from S3: a redirect to a presigned link, or streamed through the web tier.
    TALES_S3_DOWNLOADS: Literal["redirect", "stream"] = "redirect"
    TALES_S3_PRESIGN_S: int = Field(default=300, ge=10, le=7 * 24 * 3600)

    # The web server (gunicorn). 0 means "from the core count" (see web.server.default_workers).
    TALES_WEB_WORKERS: int = Field(default=0, ge=0)
    TALES_WEB_THREADS: int = Field(default=4, ge=1)
    TALES_WEB_TIMEOUT: int = Field(default=60, ge=1)  # a worker silent this long is restarted
    TALES_WEB_GRACEFUL_TIMEOUT: int = Field(default=15, ge=1)  # on stop or reload, requests get this long
    TALES_WEB_KEEPALIVE: int = Field(default=5, ge=0)
    TALES_WEB_MAX_REQUESTS: int = Field(default=0, ge=0)  # recycle a worker after this many requests (0: never)
    TALES_ACCESS_LOG: bool = True
    # A token's last_used_at is written at most this often, so polling does not write per request.
    TALES_TOKEN_TOUCH_S: int = Field(default=300, ge=0)

    # Logs: one JSON object per line (with request and task ids), or plain text for a terminal.
    TALES_LOG_FORMAT: Literal["json", "text"] = "json"
    TALES_LOG_LEVEL: str = "INFO"
    # Workers serve Prometheus metrics on this port (0: off); the web tier serves them at /metrics.
    TALES_WORKER_METRICS_PORT: int = Field(default=0, ge=0, le=65535)
    TALES_METRICS_ENABLED: bool = True
    # The web tier answers /metrics only to `Authorization: Bearer <this>` (16+ characters); empty: never (404).
    TALES_METRICS_TOKEN: str = Field(default="", pattern=r"^(|.{16,})$")
    # How often the beat runs the reconciler.
    TALES_RECONCILE_EVERY_S: float = Field(default=60.0, gt=0)

    TALES_CAPTIONER: Literal["blip", "openai", "none"] = "none"
    TALES_WRITER: Literal["kot5", "openai", "template"] = "template"
    TALES_TRANSLATOR: Literal["hf", "openai", "none"] = "none"
    TALES_BLIP_MODEL: str = "Salesforce/blip-image-captioning-base"
    TALES_KOT5_DIR: str = "wisenut-nlp-team/KoT5-base"
    TALES_TRANSLATOR_MODEL: str = "Helsinki-NLP/opus-mt-tc-big-en-ko"
    TALES_DEVICE: Literal["auto", "cpu", "cuda"] = "auto"
    # Precision of the models on a CPU. auto: bfloat16 where the CPU computes it natively
    # (AVX512-BF16 or AMX: about twice as fast as float32 here), else float32.
    TALES_CPU_DTYPE: Literal["auto", "float32", "bfloat16"] = "auto"
    # BLIP decoding: one short English sentence, greedy as in the original and the model card.
    TALES_BLIP_MAX_NEW_TOKENS: int = Field(default=30, ge=1)
    TALES_BLIP_NUM_BEAMS: int = Field(default=1, ge=1)
    # KoT5 decoding, defaults from the original's parameter search (docs/architecture.md, "Decoding").
    TALES_KOT5_MAX_INPUT_TOKENS: int = Field(default=128, ge=8)
    TALES_KOT5_MAX_LENGTH: int = Field(default=128, ge=2)
    TALES_KOT5_NUM_BEAMS: int = Field(default=3, ge=1)
    TALES_KOT5_LENGTH_PENALTY: float = 0.8
    TALES_KOT5_REPETITION_PENALTY: float = 1.5
    TALES_KOT5_NO_REPEAT_NGRAM_SIZE: int = Field(default=3, ge=0)
    TALES_KOT5_EARLY_STOPPING: bool = True
    # Text put before each caption for multi-target translation models (e.g. ">>kor<<"); empty for en-ko models.
    TALES_TRANSLATOR_PREFIX: str = ""

    OPENAI_API_KEY: str | None = None
    OPENAI_BASE_URL: str | None = None
    TALES_OPENAI_MODEL: str = "gpt-4o"
    TALES_OPENAI_TIMEOUT: float = 60.0
    # Retries inside one call (the client's own backoff), before the task's retries take over.
    TALES_OPENAI_MAX_RETRIES: int = Field(default=2, ge=0)
    # Keyword suggestions: auto = the OpenAI-compatible server when one is configured, else kiwi (offline).
    # Read-aloud audio per page (docs/architecture.md, "Narration"): none, espeak-ng's Korean voice
    # (offline, robotic), a local VITS model through transformers, or an OpenAI-compatible server.
    TALES_NARRATOR: Literal["none", "espeak", "mms", "openai"] = "none"
    TALES_MMS_MODEL: str = "facebook/mms-tts-kor"
    TALES_ESPEAK_VOICE: str = "ko"
    TALES_ESPEAK_WPM: int = Field(default=140, ge=60, le=400)
    TALES_OPENAI_TTS_MODEL: str = "gpt-4o-mini-tts"
    TALES_OPENAI_TTS_VOICE: str = "alloy"
    # The page audio: mono MP3 at this bit rate, a pause of this long between sentences.
    TALES_NARRATION_KBPS: int = Field(default=48, ge=16, le=320)
    TALES_NARRATION_PAUSE_S: float = Field(default=0.35, ge=0, le=3)
    TALES_SUGGESTER: Literal["auto", "openai", "kiwi"] = "auto"
    # Pictures (docs/pictures.md): who draws a book's pages from its photos in the style the parent
    # picks. none: photos only; filter: OpenCV on the CPU, offline; diffusers: Stable Diffusion
    # img2img on the GPU worker; openai: an OpenAI-compatible images edit endpoint (photos leave the server).
    TALES_ILLUSTRATOR: Literal["none", "filter", "diffusers", "openai"] = "filter"
    TALES_ILLUSTRATOR_MODEL: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    # img2img: how far the drawing may move from the photo (0 keeps it, 1 ignores it); steps of
    # DPMSolverMultistep; pages drawn in one batch (a book is chunked to this); the long side drawn.
    TALES_ILLUSTRATOR_STRENGTH: float = Field(default=0.55, gt=0, le=1)
    TALES_ILLUSTRATOR_STEPS: int = Field(default=22, ge=1)
    TALES_ILLUSTRATOR_GUIDANCE: float = Field(default=7.0, ge=0)
    TALES_ILLUSTRATOR_BATCH: int = Field(default=4, ge=1)
    TALES_ILLUSTRATOR_SIZE: int = Field(default=768, ge=64)
    # StoryDiffusion-style consistent self-attention across a book's batch (0 turns it off).
    TALES_ILLUSTRATOR_CONSISTENCY: float = Field(default=0.5, ge=0, le=1)
    TALES_OPENAI_IMAGE_MODEL: str = "gpt-image-1"
    # Spoken hints (docs/models.md, "Spoken hints (Whisper)"): who turns a recorded hint into text.
    # none: no record button; whisper: Whisper on the GPU worker (transformers, or faster-whisper when
    # TALES_WHISPER_MODEL is a CTranslate2 directory); openai: an OpenAI-compatible
    # /v1/audio/transcriptions (the recording leaves the server). Off by default: a model to fetch first.
    TALES_TRANSCRIBER: Literal["none", "whisper", "openai"] = "none"
    TALES_WHISPER_MODEL: str = "openai/whisper-small"
    # A PEFT LoRA adapter (directory or hub id) put on TALES_WHISPER_MODEL and merged, e.g. AI-Book's
    # children's-speech adapter on whisper-large-v2 (transformers engine; merge before converting for faster-whisper).
    TALES_WHISPER_ADAPTER: str | None = None
    TALES_WHISPER_NUM_BEAMS: int = Field(default=1, ge=1, le=10)
    TALES_OPENAI_TRANSCRIBE_MODEL: str = "gpt-4o-mini-transcribe"
    # A recording is refused above this length (checked while decoding) and this size (checked on upload).
    TALES_MAX_AUDIO_S: float = Field(default=MAX_AUDIO_SECONDS, gt=0, le=600)
    TALES_MAX_AUDIO_BYTES: int = Field(default=MAX_AUDIO_BYTES, ge=1024)
    # A finished transcription (the child's words as text, and its hints) is deleted this long after
    # it ended: the form needs it only while the parent fills it in.
    TALES_TRANSCRIPT_KEEP_S: float = Field(default=24 * 3600.0, ge=0)
    # Task retries for transient faults (timeouts, lost connections), with exponential backoff from the base.
    TALES_TASK_MAX_RETRIES: int = Field(default=5, ge=0)
    TALES_TASK_RETRY_BASE_S: float = Field(default=5.0, ge=0)

    SMTP_HOST: str | None = None
    SMTP_PORT: int = 25
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_FROM: str = "talesrunner@localhost"
    SMTP_STARTTLS: bool = False
    # The address users reach this server at, for links in emails (e.g. https://books.example.org).
    TALES_PUBLIC_URL: str | None = None

    # Upload limits: count, bytes and pixels per photo.
    TALES_MAX_IMAGES: int = Field(default=10, ge=1, le=10)
    TALES_MAX_IMAGE_BYTES: int = 25 * 1024 * 1024
    TALES_MAX_IMAGE_PIXELS: int = 60_000_000
    # Memory one photo may take once decoded the way the service decodes it (JPEG shrinks while
    # decoding; PNG, WEBP, GIF, BMP and TIFF do not), checked from the file's header at upload.
    TALES_MAX_DECODE_MB: int = Field(default=100, ge=8)
    # Photos one web process decodes at once (upload checks, thumbnails); others wait their turn.
    TALES_DECODE_SLOTS: int = Field(default=2, ge=1)
    # Text fields and JSON bodies: bytes and nesting depth.
    TALES_MAX_JSON_BYTES: int = Field(default=256 * 1024, ge=1024)
    TALES_MAX_JSON_DEPTH: int = Field(default=20, ge=4)
    # Books a user may have in progress at once.
    TALES_MAX_ACTIVE_BOOKS: int = 3
    # The book page tells the parent it is taking longer than usual once a book in progress has not
    # moved for this long (the queue is busy, or no worker is running).
    TALES_SLOW_AFTER_S: float = Field(default=60.0, gt=0)
    # Work older than this in a running state is taken as lost and enqueued again (the last resort:
    # leases below find a dead worker's books in seconds).
    TALES_STALE_AFTER_S: int = 900
    # Leases: a worker process beats every TALES_HEARTBEAT_S; one silent for TALES_LEASE_S is gone
    # and its books are taken back. Each worker looks for lost work every TALES_SWEEP_EVERY_S
    # (TALES_RECONCILE_EVERY_S above is the beat's schedule, which leases make a backstop).
    TALES_LEASES: bool = True
    TALES_HEARTBEAT_S: float = Field(default=3.0, gt=0)
    TALES_LEASE_S: float = Field(default=30.0, gt=0)
    TALES_SWEEP_EVERY_S: float = Field(default=5.0, gt=0)
    # A book or mail whose message is in no queue this long after its last move is sent again.
    TALES_LOST_GRACE_S: float = Field(default=5.0, ge=0)
    # Files of a book with no row (a web process killed between storing the photos and committing
    # the row, or between deleting the row and the files) are removed once their newest file is this
    # old; the sweep that looks for them lists the whole store, so it runs at most this often.
    TALES_ORPHAN_GRACE_S: float = Field(default=3600.0, ge=0)
    TALES_ORPHAN_SWEEP_EVERY_S: float = Field(default=3600.0, gt=0)
    # A render removes the `.tmp-*` files in its book's folders that are this old (a killed process
    # left them); younger ones may be a thumbnail the web tier is writing at the same moment.
    TALES_TEMP_FILE_GRACE_S: float = Field(default=300.0, ge=0)
    # A book whose worker died this many times while working on it is failed (a poison book).
    TALES_MAX_LOST_RUNS: int = Field(default=3, ge=1)
    # Database: connect and statement timeouts, so a database that does not answer fails fast.
    TALES_DB_CONNECT_TIMEOUT_S: int = Field(default=3, ge=1)
    TALES_DB_STATEMENT_TIMEOUT_S: float = Field(default=30.0, ge=0)
    # Broker: seconds to connect or publish before the web tier answers 503.
    TALES_BROKER_TIMEOUT_S: float = Field(default=3.0, gt=0)
    TALES_FONT: str | None = None
    TALES_PAGE_SIZE: Literal["A5", "square"] = "A5"

    # Web tier security. Secure cookies need https: turn on for any deployment reached over TLS.
    TALES_SECURE_COOKIES: bool = False
    # Reverse proxies in front of the web tier whose X-Forwarded-For/-Proto headers are trusted
    # (the rate limits key on the client's address, so this must match the deployment).
    TALES_TRUSTED_PROXIES: int = Field(default=0, ge=0, le=5)
    TALES_SESSION_DAYS: int = Field(default=14, ge=1)
    # Rate limits (Flask-Limiter syntax, ";" separates several), stored in Redis at REDIS_URL.
    TALES_RATELIMIT_ENABLED: bool = True
    TALES_RATELIMIT_LOGIN: str = "10 per minute;100 per day"  # failed logins per client address
    TALES_RATELIMIT_SIGNUP: str = "10 per hour"  # new accounts per client address
    TALES_RATELIMIT_TOKENS: str = "20 per hour"  # API tokens created per user (or address)
    TALES_RATELIMIT_BOOKS: str = "30 per hour"  # book submissions per user
    TALES_RATELIMIT_EMAILS: str = "20 per hour"  # email requests per user
    TALES_RATELIMIT_TRANSCRIPTIONS: str = "60 per hour;300 per day"  # spoken hints sent per user (a book: up to 12 fields, some said twice)
    # Password-reset mails asked for, per client address and per address mailed to.
    TALES_RATELIMIT_RESET: str = "5 per hour"
    TALES_BOOKS_PER_PAGE: int = Field(default=10, ge=1, le=100)
    # Times are stored in UTC; the pages show them in this zone.
    TALES_TIMEZONE: str = "Asia/Seoul"

    # Email: PDFs up to this size are attached; larger ones are sent as a share link to the book's
    # page (needs TALES_PUBLIC_URL), open for TALES_LINK_MAX_AGE_S.
    TALES_EMAIL_ATTACH_MAX_BYTES: int = 8 * 1024 * 1024
    TALES_LINK_MAX_AGE_S: int = 7 * 24 * 3600
    # Share links (docs/web-app.md, "Sharing"): a book opened read-only without an account. A new
    # link stays open this many days by default (to the end of that day), an owner may choose up to
    # TALES_SHARE_MAX_DAYS, and a book has at most TALES_SHARE_MAX_LINKS live links at once.
    TALES_SHARE_DAYS: int = Field(default=30, ge=1)
    TALES_SHARE_MAX_DAYS: int = Field(default=365, ge=1)
    TALES_SHARE_MAX_LINKS: int = Field(default=20, ge=1)
    # Requests to shared pages and their files (pictures, audio, PDF) per client address.
    TALES_RATELIMIT_SHARED: str = "120 per minute;2000 per hour"
    # A password-reset link works this long, and only until the password changes.
    TALES_RESET_MAX_AGE_S: int = Field(default=3600, ge=1)
    # An account mails no one but itself until it opens the link in its confirmation mail, which
    # works this long; confirmation mails asked for again, per account.
    TALES_CONFIRM_MAX_AGE_S: int = Field(default=3 * 24 * 3600, ge=1)
    TALES_RATELIMIT_CONFIRM: str = "3 per hour;10 per day"
    # Mails to other people's addresses an account may ask for in any 24 hours (its own address is not counted).
    TALES_MAIL_PER_DAY: int = Field(default=20, ge=0)
    # First retry delay after an SMTP failure; doubles each attempt (capped at 10 minutes).
    TALES_EMAIL_RETRY_BASE_S: float = Field(default=5.0, ge=0)

    @field_validator("DATA_DIR")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("DATABASE_URL")
    @classmethod
    def _installed_driver(cls, value: str) -> str:
        return database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")


# URL schemes as people (and Heroku, Render, docker images) write them, and the installed driver.
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def database_url(url: str) -> str:
    """`postgres://` and `postgresql://` on the installed psycopg 3 driver; other URLs unchanged."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            # SQLAlchemy would pick psycopg2 for a bare postgresql:// URL, which is not installed.
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def secret_key_refusal(settings: Settings) -> str | None:
    """Why a server must not start with these settings' SECRET_KEY (none, the development value, or short), else None."""
    if settings.SECRET_KEY in ("", DEV_SECRET_KEY):
        return ("SECRET_KEY is not set (or is the development value): set it to a long random string, "
                "the same for the web tier and every worker")
    if len(settings.SECRET_KEY) < SECRET_KEY_MIN_LENGTH:
        # A short key can be guessed offline from one signed cookie, and then every session forged.
        return (f"SECRET_KEY is shorter than {SECRET_KEY_MIN_LENGTH} characters: "
                "set it to a long random string (python3 -c 'import secrets; print(secrets.token_hex(32))'), "
                "the same for the web tier and every worker")
    return None


def refuse_weak_secret_key(settings: Settings, program: str, exit_code: int) -> None:
    """Stop this process, after one line on stderr naming the setting, when secret_key_refusal has a reason."""
    reason = secret_key_refusal(settings)
    if reason is not None:
        print(f"{program}: {reason}", file=sys.stderr, flush=True)
        raise SystemExit(exit_code)


def cpu_count() -> int:
    """Cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
