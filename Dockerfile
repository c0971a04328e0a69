# syntax=docker/dockerfile:1
# The Sentinel backend image (default target, last stage) and the Locust image (target
# "locust") from one source tree: docker-compose.chaos.yml builds both.
#   docker build -t sentinel-backend .
#   docker build --target locust -t sentinel-locust .
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN groupadd --system --gid 10001 sentinel \
    && useradd --system --uid 10001 --gid sentinel --home-dir /app --shell /usr/sbin/nologin sentinel
COPY pyproject.toml README.md ./
COPY sentinel_backend ./sentinel_backend
COPY simulator ./simulator
COPY chaos ./chaos
COPY loadtests ./loadtests

# Locust master and workers: the package with the "load" extra and the locustfile.
FROM base AS locust
RUN pip install ".[load]"
USER sentinel:sentinel
EXPOSE 8089 5557
ENTRYPOINT ["locust", "-f", "/app/loadtests/locustfile.py"]

# The backend: DATABASE_URL and the SENTINEL_* secrets come from the environment.
FROM base AS backend
RUN pip install .
USER sentinel:sentinel
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["sentinel-backend"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
