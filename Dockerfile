# One image for every process of Five Golden Flowers: the five services and the gateway.
# The process is chosen by the command: `serve nomination|review|rewards|publicity|notification|gateway`
# (deploy/cli_serve.py); any other `flowers` command runs the same way (`db migrate`,
# `nats-streams`, `audit verify`, …). Build from the repository's root:
#     docker build -t flowers:0.1.0 .
# Nothing here is a secret: credentials are mounted at run time (deploy/README.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The locked requirements into a virtual environment, copied whole into the final stage.
RUN python -m venv /opt/flowers
COPY requirements.lock /tmp/requirements.lock
RUN /opt/flowers/bin/pip install --no-cache-dir --require-virtualenv -r /tmp/requirements.lock

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/flowers/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLOWERS_LOG_JSON=true \
    FLOWERS_GATEWAY_HOST=0.0.0.0 \
    FLOWERS_HEALTH_HOST=0.0.0.0 \
    FLOWERS_HEALTH_PORT=8081 \
    FLOWERS_METRICS_HOST=0.0.0.0 \
    FLOWERS_DATA_DIR=/tmp/flowers \
    MPLCONFIGDIR=/tmp/matplotlib \
    FLOWERS_PUBLICITY_CHART_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
# A CJK font for publicity's charts (Chinese labels), named above: no fontconfig needed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-microhei=0.2.0-beta-3.1 \
 && rm -rf /var/lib/apt/lists/*
# An unprivileged user owns nothing of the code (read-only to it) and has no shell.
RUN groupadd --system --gid 10001 flowers \
 && useradd --system --uid 10001 --gid flowers --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin flowers
COPY --from=build /opt/flowers /opt/flowers
# The project runs from its source tree (PROJECT_ROOT = /app: schema.sql files, templates,
# static files and deploy/postgres-roles.sql are where the code looks for them).
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
# `flowers …` as in the README, without installing the project into site-packages.
RUN printf '#!/bin/sh\nexec python -m deploy.cli "$@"\n' > /usr/local/bin/flowers \
 && chmod 0755 /usr/local/bin/flowers \
 && python -m compileall -q /app/shared /app/services /app/deploy
USER 10001:10001
# 8000: the gateway's HTTP; 8081: the probes (GET /livez, /readyz); 9100: Prometheus
# metrics of a service when FLOWERS_METRICS_PORT_<SERVICE>=9100 is set.
EXPOSE 8000 8081 9100
# Ready: a service reaches PostgreSQL and NATS (its health check), the gateway reaches NATS.
# Keep FLOWERS_HEALTH_PORT at 8081 or change this line with it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/readyz', timeout=4)"]
ENTRYPOINT ["flowers"]
CMD ["serve", "gateway"]
