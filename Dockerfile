# OpenChargeback: one image for `serve` (the default), `worker` and every CLI command.
# Build (docs/operations/docker.md):
#   make wheels && docker build -t openchargeback .      # offline: from wheels/ only
#   docker build -t openchargeback .                      # online: wheels/ empty, from the index
# BASE is the official Python image by default; any Debian bookworm image with python3
# and python3-venv will do (the tests build one with debootstrap).
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
# The project and every dependency into a virtual environment: from the wheelhouse with
# --no-index when wheels/ holds wheels (an air-gapped site), from the package index
# otherwise. The final stage copies the environment only: no build tool comes along.
COPY wheels/ /wheels/
COPY pyproject.toml README.md /src/
COPY src/ /src/src/
RUN python3 -m venv /opt/openchargeback \
 && if ls /wheels/*.whl >/dev/null 2>&1; then \
      /opt/openchargeback/bin/pip install --no-cache-dir --no-index --find-links /wheels --only-binary=:all: openchargeback; \
    else \
      /opt/openchargeback/bin/pip install --no-cache-dir /src; \
    fi \
 && /opt/openchargeback/bin/pip uninstall -y -q pip

FROM ${BASE}
# WeasyPrint's libraries (Pango) and a font, for PDF statements.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home openchargeback \
 && mkdir -p /data && chown openchargeback:openchargeback /data
COPY --from=build /opt/openchargeback /opt/openchargeback
COPY config.example.yaml /opt/openchargeback/config.example.yaml
COPY docker/entrypoint.py /opt/openchargeback/entrypoint.py
ENV PATH=/opt/openchargeback/bin:$PATH \
    OPENCHARGEBACK_CONFIG=/data/config.yaml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER openchargeback
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/opt/openchargeback/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["/opt/openchargeback/bin/python", "/opt/openchargeback/entrypoint.py"]
CMD ["serve"]
