# The two commands of the README: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-test-deps lint check-migrations bench translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Command 1: set up and run both sites on SQLite in ./instance (first run prints the set-up link).
run: install
	$(BIN)/tipline serve

## Debian packages the tests need: Chromium + driver for browser flows, PostgreSQL for the scale-out path,
## nginx to check the deploy/ sites with `nginx -t` (tor is not installed: its daemon would reach out).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-test-deps:
	@if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ] || ! [ -x /usr/sbin/nginx ] \
		|| ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
			--no-install-recommends chromium chromium-driver postgresql nginx >/dev/null; \
	fi

lint: install
	$(BIN)/ruff check app crypto tests bench
	$(BIN)/mypy crypto app

check-migrations: install
	TIPLINE_SECRET_KEY=$$(printf 'x%.0s' $$(seq 40)) $(BIN)/python -m app.migrations.check

## Command 2: set up and run every test (what .ci/run runs).
test: install system-test-deps lint check-migrations
	$(BIN)/python -m pytest --db=both

translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output --project tipline .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d app/translations

bench: install
	$(BIN)/python -m bench
