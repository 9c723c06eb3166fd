# balance-logs: one image for the dashboard (gunicorn), the scheduler and one-off commands.
#   docker build -t balance-logs .
#   docker run --rm -v "$PWD/data/logs:/logs:ro" --env-file .env balance-logs python ingest.py /logs
# docker-compose.yml runs it with PostgreSQL; docs/deployment.md explains every setting.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_DIR=/logs \
    REPORT_DIR=/reports \
    DASH_HOST=0.0.0.0 \
    DASH_PORT=8050

# A fixed, unprivileged user: files it writes into volumes have a known owner (10001).
RUN groupadd --system --gid 10001 balance \
 && useradd --system --uid 10001 --gid balance --home-dir /app --shell /usr/sbin/nologin balance

WORKDIR /app

# Dependencies first, so code changes don't reinstall them (all wheels: no compiler needed).
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=root:root . .
# The code's bytecode, compiled once here: the image's user may not write it (and PYTHONDONTWRITEBYTECODE
# says not to), so without it every command would compile every module again.
RUN python -m compileall -q alerts app db ingest pipeline queries reports sample scheduler transform errors.py \
    settings.py vocabulary.py \
 && mkdir -p /logs /reports /app/data \
 && chown balance:balance /reports /app/data

USER 10001:10001

EXPOSE 8050

# The dashboard answers HTTP (401 when DASH_AUTH_USERS is set still means it is up).
# docker-compose.yml gives the scheduler its own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.error, urllib.request\ntry:\n    urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('DASH_PORT', '8050')}/\", timeout=4)\nexcept urllib.error.HTTPError as exc:\n    sys.exit(0 if exc.code == 401 else 1)\nexcept Exception:\n    sys.exit(1)"]

CMD ["gunicorn", "-c", "app/gunicorn_conf.py", "app.wsgi:server"]
