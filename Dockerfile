# One image for every app of the suite; the container's command picks the app:
#   docker run IMAGE serve gateway|conventions|actions|documents [--workers N]
# (N worker processes: default the container's cores, at most 4; COOP_<APP>_WORKERS too)
#   docker run IMAGE migrate
#   docker run IMAGE worker        (every app's background jobs)
# Build: docker build -t cooperation .

# --- builder: compilers live here only ---------------------------------------------
FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first (pinned by constraints.txt) so code changes reuse this layer.
COPY pyproject.toml constraints.txt ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/venv/bin/pip install -c constraints.txt -r requirements.txt
COPY kernel ./kernel
COPY services ./services
COPY gateway ./gateway
COPY coop ./coop
RUN /opt/venv/bin/pip install --no-deps .
# kernel.migrations finds the Alembic trees next to the installed `kernel` package.
COPY migrations /opt/venv/lib/python3.11/site-packages/migrations

# --- runtime: slim, no build tools, non-root ------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    COOP_ENVIRONMENT=production \
    COOP_HOST=0.0.0.0 \
    COOP_WORKER_HEARTBEAT_FILE=/tmp/coop-worker.heartbeat
# Bilan reports: WeasyPrint lays text out with Pango, in DejaVu, and subsets fonts with HarfBuzz.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 coop \
 && useradd --system --uid 10001 --gid coop --home-dir /srv/coop --create-home coop
COPY --from=builder /opt/venv /opt/venv
WORKDIR /srv/coop
USER coop:coop
EXPOSE 8000 8001 8002 8003
# /healthz of the app this container serves, or the worker's heartbeat (`coop healthcheck`
# reads which from PID 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["coop", "healthcheck"]
ENTRYPOINT ["coop"]
CMD ["serve", "gateway"]
