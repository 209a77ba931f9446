FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pantau pantau
COPY hotspots hotspots
COPY collectors collectors
COPY store store
COPY outages outages
COPY api api
COPY alerts alerts
COPY simulator simulator
COPY snmpwire snmpwire
COPY config config
COPY dashboards dashboards
COPY cities cities
RUN pip install --no-cache-dir .
CMD ["pantau", "--help"]
