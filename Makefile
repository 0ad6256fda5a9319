# Fieldsafe: `make run` serves the demo on http://127.0.0.1:5000; `make test` runs the suite.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test test-browser lint format migrations-check bench venv clean translations messages \
	assets browsers fonts document-examples

venv: $(VENV)/.installed fonts

# The CJK font the enforcement documents embed (AR PL UMing, 宋体 style; docs/documents.md):
# Debian's fonts-arphic-uming, installed when missing (as root, or through sudo).
FONT := /usr/share/fonts/truetype/arphic/uming.ttc
fonts:
	@test -f $(FONT) || { \
		echo "installing the documents' font AR PL UMing (fonts-arphic-uming)"; \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get install -y fonts-arphic-uming >/dev/null || \
		{ $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y fonts-arphic-uming >/dev/null; }; \
		test -f $(FONT) || { echo "AR PL UMing is still missing: $(FONT)" >&2; exit 1; }; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The message catalogs (app/translations/*/messages.po) compiled for Flask-Babel; see docs/i18n.md.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard app/translations/*/LC_MESSAGES/messages.po))
translations: $(CATALOGS)

app/translations/%/LC_MESSAGES/messages.mo: app/translations/%/LC_MESSAGES/messages.po | venv
	$(BIN)/pybabel compile --statistics -l $* -i $< -o $@

# Extract every marked text (babel.cfg) and merge it into each catalog: a new text arrives with an
# empty msgstr to translate, a text no longer in the code leaves. Then translate, and make test.
POT := app/translations/messages.pot
messages: venv
	$(BIN)/pybabel extract -F babel.cfg --project=fieldsafe --add-location=file --sort-by-file \
		--no-wrap -o $(POT) .
	$(BIN)/pybabel update -i $(POT) -d app/translations --no-fuzzy-matching --ignore-obsolete \
		--no-wrap
	@# The extraction time changes with every run; left in, it would conflict in every merge.
	sed -i '/^"POT-Creation-Date: /d' app/translations/*/LC_MESSAGES/messages.po

# The console's and the field app's browser code (web/), bundled by esbuild into app/static/dist
# from the npm packages web/package-lock.json pins. Served by this app: no CDN on an intranet.
WEB_INSTALLED := web/node_modules/.package-lock.json
$(WEB_INSTALLED): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --silent
assets: $(WEB_INSTALLED)
	cd web && node build.mjs

# Debian's Chromium for the browser tests, and a CJK font so that its pages and screenshots show
# Chinese (both from Debian's packages; root on a fresh machine).
CHROMIUM ?= /usr/bin/chromium
browsers:
	@if [ ! -x $(CHROMIUM) ] || [ -z "$$(fc-list :lang=zh 2>/dev/null)" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium fonts-noto-cjk >/dev/null; \
	fi

run: venv fonts translations assets
	$(BIN)/fieldsafe db upgrade
	$(BIN)/fieldsafe checklists load
	$(BIN)/fieldsafe demo
	$(BIN)/fieldsafe serve

test: venv fonts translations assets
	$(BIN)/pytest

# Playwright driving Debian's Chromium against a real server (browser_tests/conftest.py).
test-browser: venv translations assets browsers
	$(BIN)/pytest browser_tests

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sync media app/*/services.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Upgrade a scratch database to head, then fail if the models have drifted from the migrations.
# Uses FIELDSAFE_DATABASE_URL when set (CI points it at PostgreSQL), else a throwaway SQLite file.
migrations-check: venv
	@url="$${FIELDSAFE_DATABASE_URL:-sqlite:///$$(mktemp -d)/drift.db}"; \
	FIELDSAFE_DATABASE_URL="$$url" $(BIN)/alembic upgrade head && \
	FIELDSAFE_DATABASE_URL="$$url" $(BIN)/alembic check

# The sync benches need PostgreSQL: TEST_DATABASE_URL defaults to the local server's postgres db.
bench: venv
	@export TEST_DATABASE_URL="$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"; \
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# The example pages of docs/documents.md, from `fieldsafe demo` (docs/documents/examples.py).
document-examples: venv fonts translations
	$(BIN)/python docs/documents/examples.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache web/node_modules app/static/dist \
		artifacts
