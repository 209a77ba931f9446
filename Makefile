# Pantau: two commands.
#   make demo   installs what is missing and runs the whole system on the simulated city
#   make demo CITIES=semarang,batang   several cities in one deployment (each under /cities/<city>/)
#   make test   installs what is missing and runs the test suite (unit + integration)
#   make test-pg  the same suite with PostgreSQL as the state database (CI runs both)
#   make lint   import-linter contracts (ARCHITECTURE.md's rooms), ruff check, ruff format --check, mypy
.PHONY: demo test test-pg unit lint bootstrap inventory bench clean lock

VENV := .venv/bin

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/pantau demo $(if $(CITIES),--city $(CITIES))

test: bootstrap
	$(VENV)/python -m pytest -q $(PYTEST_ARGS)

# The same suite with PostgreSQL as the state database (a server the tests start, like InfluxDB):
# every test that uses the database fixtures, every Stack (collector + API processes) and scenario run;
# modules that never touch the state database (tests/conftest.py NO_STATE_DATABASE) are left out.
test-pg: bootstrap
	PANTAU_TEST_DATABASE=postgresql $(VENV)/python -m pytest -q $(PYTEST_ARGS)

unit: bootstrap
	$(VENV)/python -m pytest -q -m unit $(PYTEST_ARGS)

lint: bootstrap
	scripts/lint.sh

# Regenerate the committed city inventories from their fact files.
inventory: bootstrap
	$(VENV)/pantau inventory generate cities/semarang/city.yaml --out cities/semarang
	$(VENV)/pantau inventory generate cities/batang/city.yaml --out cities/batang

bench: bootstrap
	$(VENV)/python bench/simulator_snmp.py

# Regenerate requirements.lock (pinned, hashed) from pyproject.toml.
lock:
	scripts/lock.sh

clean:
	rm -rf .pantau .pytest_cache
