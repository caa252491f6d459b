#!/usr/bin/env bash
# Prepare a fresh machine: system packages, PostgreSQL and Redis up, a virtualenv with the project.
# Idempotent: a second run only checks. Used by the README's commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(poppler-utils fonts-nanum fonts-dejavu-core chromium chromium-driver wrk espeak-ng epubcheck ffmpeg nginx)
missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The local services the tests and the demo talk to.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "setup: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "setup: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 1
done

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# torch first, pinned, so the CPU wheel on disk satisfies the range and no CUDA build is pulled.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch 2.13.0 (CPU)"
  .venv/bin/pip install -q torch==2.13.0
fi
stamp=.venv/.talesrunner-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing talesrunner and its dependencies"
  .venv/bin/pip install -q -e ".[models,openai,ops,train,test]"
  touch "$stamp"
fi

# axe-core for the accessibility test (tests/test_accessibility.py), from the npm registry, once.
AXE=.cache/axe/node_modules/axe-core/axe.min.js
if [ ! -f "$AXE" ] && command -v npm >/dev/null 2>&1; then
  echo "setup: installing axe-core 4 into .cache/axe"
  npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@4 >/dev/null
elif [ ! -f "$AXE" ]; then
  echo "setup: npm is missing, so tests/test_accessibility.py will be skipped (install Node.js with npm)"
fi
