# The worker / trainer image. CPU-only torch keeps it ~1 GB instead of ~5 GB.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MODEL_STORE=/models \
    FEEDBACK_HOME=/var/lib/feedback \
    WEB_BIND=0.0.0.0

WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==2.15.0"
COPY pyproject.toml README.md ./
# The runtime packages only: the development tools (devtools/: the local broker launcher,
# the benchmark) stay out, and `feedback broker` / `feedback bench` say so in one line.
COPY stream ./stream
COPY nlp ./nlp
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/feedback --create-home feedback \
    && mkdir -p /models && chown feedback /models

USER feedback
# Bake the default model into the image: a fresh named volume mounted on /models starts
# with it, so the worker serves at once instead of training on first start.
RUN python -c "from nlp import ensure_default_model; print(ensure_default_model('/models'))"

EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WEB_PORT', '6066') + '/healthz')" || exit 1
ENTRYPOINT ["feedback"]
CMD ["worker"]
