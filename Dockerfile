# One image for web and workers; the GPU worker runs it on a CUDA host (torch picks its CUDA wheel).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends fonts-nanum fonts-dejavu-core poppler-utils espeak-ng \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e ".[models,openai,ops]"
ENV DATA_DIR=/data
