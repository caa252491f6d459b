# One image for web and workers; the GPU worker runs it on a CUDA host (torch picks its CUDA wheel).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends fonts-nanum fonts-dejavu-core poppler-utils espeak-ng ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e ".[models,openai,ops]"
# The code stays root's and read-only; the service runs as its own user, which may write only its
# data (DATA_DIR), the beat's schedule (/beat), instance/ and its home (the model cache).
RUN useradd --create-home --uid 10001 talesrunner \
    && mkdir -p /data /beat /app/instance \
    && chown talesrunner:talesrunner /data /beat /app/instance
ENV DATA_DIR=/data
USER talesrunner
