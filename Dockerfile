# One image for the Dagster code server, webserver and daemon.
FROM python:3.11-slim
WORKDIR /opt/polymath
# torch first: the CUDA build for the GPU code server (CPU works too, only slower).
RUN pip install --no-cache-dir torch==2.13.0
COPY pyproject.toml README.md ./
COPY polymath_assets ./polymath_assets
RUN pip install --no-cache-dir '.[k8s]'
COPY workspace.yaml ./
COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml
ENV DAGSTER_HOME=/opt/dagster/home
