# Two entry points: `make chat` serves the web chat and the JSON API, `make test` runs every test.
# Both create (or reuse) .venv/ at the repo root and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1

.PHONY: chat test chromium bench eval

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

chat: $(STAMP)
	$(PY) app.py $(ARGS)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) chromium
	$(PY) -m pytest $(ARGS)

eval: $(STAMP)
	$(PY) eval/run.py $(ARGS)

bench: $(STAMP)
	$(PY) eval/bench.py $(ARGS)
