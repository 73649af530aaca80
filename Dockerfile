# Millstream worker image: the same install path as CI (scripts/install.sh).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN scripts/install.sh
ENV PATH=/app/.venv/bin:$PATH
CMD ["millstream", "replay", "millstream/samples/hearing_devices.jsonl", "--report", "planned", "--report", "shortages"]
