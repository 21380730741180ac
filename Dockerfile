# paystream: one image for the workers and the sandbox emulators.
#   docker build -t paystream .
#   docker run --rm paystream --help
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY agents ./agents
COPY schemas ./schemas
COPY connectors ./connectors
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/paystream paystream
USER paystream
WORKDIR /var/lib/paystream
# The worker's web server (/metrics) must answer other containers, not only loopback.
ENV PYTHONUNBUFFERED=1 \
    PAYSTREAM_WEB_HOST=0.0.0.0 \
    PAYSTREAM_WEB_PORT=6066 \
    PAYSTREAM_DATA_DIR=/var/lib/paystream/worker
EXPOSE 6066
ENTRYPOINT ["paystream"]
CMD ["worker"]
