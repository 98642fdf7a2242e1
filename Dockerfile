# The landgis service image: wheels bring GEOS, PROJ and GDAL, so no system GIS libraries are needed;
# Pango and a Chinese font are for the PDF case-file report (WeasyPrint).
#
# The image only serves. Migrations and the optional sample import are the one-shot `migrate` service of
# docker-compose.yml (`landgis migrate`), so replicas never race on them. Production mode is the default:
# the service refuses to start without a real LANDGIS_SECRET_KEY (or LANDGIS_SECRET_KEY_FILE) and needs
# DATABASE_URL (or DATABASE_URL_FILE).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LANDGIS_ENV=production LANDGIS_WORKERS=1
WORKDIR /srv/landgis
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY gis ./gis
COPY migrations ./migrations
COPY sample_parcels ./sample_parcels
RUN pip install . && useradd --system --home /srv/landgis landgis
USER landgis
EXPOSE 8000
# /readyz: the database answers and its migrations are at this image's head (503 otherwise).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
# exec: uvicorn is PID 1 and gets SIGTERM from `docker stop` (graceful shutdown, open requests finish).
CMD ["sh", "-c", "exec landgis serve --host 0.0.0.0 --port 8000 --workers \"${LANDGIS_WORKERS}\""]
