# Millstream image (worker, topic creator, publisher): the same install path as CI (scripts/install.sh).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN scripts/install.sh
# An unprivileged user; the worker's RocksDB tables live in /var/lib/millstream (a volume in docker-compose.yml).
RUN useradd --system --no-create-home --home-dir /app millstream \
    && mkdir -p /var/lib/millstream && chown millstream /var/lib/millstream
USER millstream
ENV PATH=/app/.venv/bin:$PATH \
    MILLSTREAM_DATA_DIR=/var/lib/millstream \
    MILLSTREAM_WEB_BIND=0.0.0.0
EXPOSE 6066
CMD ["millstream", "worker"]
