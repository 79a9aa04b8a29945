# Cervi runtime image: the service, the shipped model and onnxruntime; no torch, no tests.
# Same install steps as `make serve`: pip with the pinned constraints, then `cervi serve`
# (which applies the database migrations on start).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/cervi cervi

WORKDIR /opt/cervi
COPY pyproject.toml constraints.txt README.md config.yaml ./
COPY cervi ./cervi
COPY dicom_node ./dicom_node
COPY inference ./inference
COPY storage ./storage
COPY models ./models
RUN pip install -c constraints.txt .

USER cervi
ENV CERVI_STORAGE__DATABASE_URL=sqlite:////var/lib/cervi/cervi.db \
    CERVI_STORAGE__INSTANCE_DIR=/var/lib/cervi/instances \
    CERVI_API__HOST=0.0.0.0
VOLUME ["/var/lib/cervi"]
EXPOSE 11112 8080
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"
CMD ["cervi", "serve", "--config", "/opt/cervi/config.yaml"]
