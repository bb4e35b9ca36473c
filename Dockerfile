# The portal image: web (Daphne), Celery workers and beat all run from it.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ARRAYSCOPE_VAR=/var/lib/arrayscope
WORKDIR /app
COPY pyproject.toml README.md ./
COPY portal ./portal
COPY observations ./observations
COPY alerts ./alerts
COPY scheduling ./scheduling
COPY mlmodels ./mlmodels
COPY labeling ./labeling
RUN pip install --no-cache-dir .
COPY manage.py ./
COPY templates ./templates
COPY static ./static
RUN useradd --system --home /var/lib/arrayscope arrayscope && mkdir -p /var/lib/arrayscope/media \
    && chown -R arrayscope /var/lib/arrayscope
USER arrayscope
EXPOSE 8000
CMD ["python", "-m", "portal.webserver", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "portal.asgi:application"]
