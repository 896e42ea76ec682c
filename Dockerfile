# OpenCortex in a container, for compose.yaml (docs/production.md). One image runs every role:
# `opencortex serve --no-worker`, `opencortex worker`, `opencortex init` and the admin commands.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --create-home --home-dir /home/opencortex opencortex

# With PostgreSQL, S3 and OPENCORTEX_MASTER_KEY the data folder holds nothing to keep (temporary
# files only); it is the container's own. Listen on every interface of the container.
USER opencortex
WORKDIR /home/opencortex
ENV OPENCORTEX_DATA_DIR=/home/opencortex/var \
    OPENCORTEX_HOST=0.0.0.0 \
    OPENCORTEX_PORT=8080
EXPOSE 8080
CMD ["opencortex", "serve"]
