# Two entry points: `make chat` serves the web chat and the JSON API, `make test` runs every test.
# Both create (or reuse) .venv/ at the repo root and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1

.PHONY: chat test chromium ocr bench eval

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

# OCR of scanned PDFs and page images (docs/ocr.md): Debian's tesseract and its English data.
# `make chat` works without it (a scanned file is then skipped with a reason naming this command).
ocr:
	@command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx eng || { \
	  echo "installing Debian's tesseract-ocr for OCR and its tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null; }

test: $(STAMP) chromium ocr
	$(PY) -m pytest $(ARGS)

eval: $(STAMP)
	$(PY) -m eval.scoring.run $(ARGS)

bench: $(STAMP)
	$(PY) -m eval.bench.run $(ARGS)
