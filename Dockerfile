# The landgis service image: wheels bring GEOS, PROJ and GDAL, so no system GIS libraries are needed;
# Pango and a Chinese font are for the PDF case-file report (WeasyPrint).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/landgis
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY gis ./gis
COPY migrations ./migrations
COPY sample_parcels ./sample_parcels
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN pip install . && useradd --system --home /srv/landgis landgis
USER landgis
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "landgis db up && landgis import sample_parcels/tiantai.gpkg --actor sample-data && landgis serve --host 0.0.0.0 --port 8000"]
