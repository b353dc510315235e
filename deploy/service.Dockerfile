# One image recipe for the four services. Build context: the repository root, with the service's name and
# port as build arguments (docker compose build intake, or:
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE=intake --build-arg PORT=8001 .).
FROM python:3.11-slim

ARG SERVICE
ARG PORT
RUN test -n "$SERVICE" && test -n "$PORT"  # both are required: there is no default service

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CME_HTTP_HOST=0.0.0.0 \
    CME_ENV=production \
    CME_SERVICE_MODULE=cme_${SERVICE}

WORKDIR /app

# Pinned versions first, then the shared library and this service only.
COPY constraints.txt ./
COPY shared/ ./shared/
COPY services/${SERVICE}/ ./services/${SERVICE}/
RUN pip install -c constraints.txt ./shared ./services/${SERVICE}

# Never run as root.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cme
USER cme

EXPOSE ${PORT}
CMD ["sh", "-c", "exec python -m \"$CME_SERVICE_MODULE\""]
