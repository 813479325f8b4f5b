# syntax=docker/dockerfile:1
# The regionwatch image: `docker build -t regionwatch .` at the repository's root.
# Runs as user 10001 on a read-only root filesystem; its only writable place is the volume at
# /var/lib/regionwatch (the store: storage.path /var/lib/regionwatch/regionwatch.db), plus a
# tmpfs at /tmp. The configuration is mounted at /etc/regionwatch/regionwatch.yaml and must
# listen on 0.0.0.0:8000 (api.listen). docs/operations.md shows it on Kubernetes.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the locked dependencies and regionwatch itself, into one venv --------------------
FROM ${PYTHON_IMAGE} AS build
RUN pip install --no-cache-dir "uv==0.13.9"
# A venv of its own (not editable, no development group), compiled ahead: the final image's
# root filesystem is read-only, so Python could never write its bytecode there.
ENV UV_PROJECT_ENVIRONMENT=/opt/regionwatch \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
# The dependencies first, in a layer of their own: a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY monitor ./monitor
COPY api ./api
COPY lab ./lab
COPY regionwatch ./regionwatch
RUN uv sync --frozen --no-dev --no-editable

# --- run: the same Python, the venv, nothing else ---------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="regionwatch" \
      org.opencontainers.image.description="Watches a site served from several regions behind Azure Traffic Manager." \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /opt/regionwatch /opt/regionwatch
RUN mkdir -p /var/lib/regionwatch /etc/regionwatch \
    && chown 10001:10001 /var/lib/regionwatch
# PYTHONDONTWRITEBYTECODE: nothing to write on a read-only root (the venv is compiled).
# HOME on the volume: anything that wants a home folder gets a writable one.
# REGIONWATCH_HEALTHCHECK_URL: change its port with api.listen's.
ENV PATH="/opt/regionwatch/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/regionwatch \
    REGIONWATCH_HEALTHCHECK_URL=http://127.0.0.1:8000/livez
USER 10001:10001
WORKDIR /var/lib/regionwatch
VOLUME ["/var/lib/regionwatch"]
EXPOSE 8000
# /livez answers once the store is checked: a large store on a cold disk takes a while.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["python", "-m", "regionwatch.healthcheck"]
ENTRYPOINT ["regionwatch"]
CMD ["run", "--config", "/etc/regionwatch/regionwatch.yaml"]
