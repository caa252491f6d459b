#!/usr/bin/env bash
# A self-signed certificate for the proxy on this machine (browsers warn about it; use a real one,
# e.g. from Let's Encrypt, for anyone else): deploy/make-local-cert.sh [DIR] [NAME]
# writes DIR/fullchain.pem and DIR/privkey.pem (default deploy/certs, localhost), which the compose
# file mounts into the proxy (TALES_TLS_DIR). Nothing is overwritten.
set -euo pipefail
dir=${1:-"$(dirname "$0")/certs"}
name=${2:-localhost}
mkdir -p "$dir"
if [ -e "$dir/fullchain.pem" ] || [ -e "$dir/privkey.pem" ]; then
  echo "make-local-cert: $dir already has a certificate; remove it first to make a new one" >&2
  exit 1
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=$name" -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" 2>/dev/null
chmod 600 "$dir/privkey.pem"
# nginx reads the key as root before it drops privileges; the pair is for this host only.
echo "$dir/fullchain.pem"
