# syntax=docker/dockerfile:1
# One recipe for every Labelloop service image; the service is a build argument:
#   docker build --build-arg SERVICE=ingest -t labelloop/ingest .
#   docker build --build-arg SERVICE=trainer -t labelloop/trainer .                     # CPU-only torch (so does inference)
#   docker build --build-arg SERVICE=trainer --build-arg TORCH=cuda -t labelloop/trainer:gpu .
# SERVICE: ingest | inference | selector | gt-bridge | trainer | portal. Images install the shared
# library and that one service; never tools/ (the labelloop command, the demo, the local stack).

# python:3.11.11-slim-bookworm, pinned by digest: a tag can be re-pushed, a digest cannot.
ARG BASE_IMAGE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
FROM ${BASE_IMAGE}

ARG SERVICE
# cpu: torch from PyTorch's CPU wheel index (~200 MB, no CUDA libraries); cuda: PyPI's CUDA build (multi-GB).
ARG TORCH=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LABELLOOP_IMAGE_SERVICE=${SERVICE} LABELLOOP_LIVENESS_FILE=/tmp/labelloop-alive
RUN case "${SERVICE}" in ingest|inference|selector|gt-bridge|trainer|portal) ;; \
      *) echo "build with --build-arg SERVICE=ingest|inference|selector|gt-bridge|trainer|portal" >&2; exit 2 ;; esac \
    && case "${TORCH}" in cpu|cuda) ;; *) echo "TORCH is cpu or cuda" >&2; exit 2 ;; esac \
    && useradd --create-home --uid 10001 labelloop
WORKDIR /app

# Dependencies first, from the pyproject.toml files alone: a source change reuses this layer.
COPY requirements/constraints.txt requirements/dependencies_of.py requirements/
COPY shared/pyproject.toml shared/
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/
RUN extras=$([ "${SERVICE}" = trainer ] && echo "[train]" || true) \
    && python requirements/dependencies_of.py shared "services/${SERVICE}${extras}" > /tmp/requirements.txt \
    && if [ "${TORCH}" = cpu ] && grep -q '^torch' /tmp/requirements.txt; then \
         pip install --index-url "${TORCH_CPU_INDEX}" -c requirements/constraints.txt \
           $(grep -E '^torch(vision)?[=<>]' /tmp/requirements.txt); \
       fi \
    && pip install -c requirements/constraints.txt -r /tmp/requirements.txt

# Then the source: the shared library and this one service, without touching the dependencies.
COPY shared shared
COPY services/${SERVICE} services/${SERVICE}
RUN pip install --no-deps ./shared "./services/${SERVICE}"

USER labelloop
# Healthy while the service's worker loop is alive: it touches LABELLOOP_LIVENESS_FILE on every poll
# (at most poll_wait_s, 10 s, apart) and on every tick; a hung loop turns the container unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-m", "labelloop.healthcheck"]
# SIGTERM: the worker stops polling and drains within its DRAIN_TIMEOUT_S (below ECS's stopTimeout).
STOPSIGNAL SIGTERM
# exec: the service is PID 1 and receives SIGTERM itself.
CMD ["sh", "-c", "exec labelloop-${LABELLOOP_IMAGE_SERVICE}"]
