# Two commands do all set-up on a fresh machine (Python 3.11, Debian):
#   make run    creates .venv from requirements.txt (and roiviz itself, editable) and starts
#               the app on http://localhost:8501 (warm: roiviz.app.warm, `streamlit run app.py`
#               after importing what the pages need)
#   make test   creates .venv with the test packages, installs Debian's chromium and haproxy if
#               missing, and runs the whole test suite (unit, AppTest and real-browser tests)
#   make serve  WORKERS Streamlit processes behind HAProxy on BIND:PORT (every core serving;
#               README, "A lecture hall"), e.g. `make serve WORKERS=2`; PUBLIC_URL is the address
#               readers reach (links and iframe snippets use it; README, "Host it for a blog"),
#               e.g. `make serve PUBLIC_URL=https://roiviz.example.org`
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# torch==2.13.0 is a CPU build on these machines' disk; pip finds it through find-links.
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

WORKERS ?= 2
PORT ?= 8501
BIND ?= 0.0.0.0
# The app's public address for its links and iframe snippets (ROIVIZ_PUBLIC_URL; empty: unset).
PUBLIC_URL ?= $(ROIVIZ_PUBLIC_URL)

.PHONY: run serve test chromium proxy bench

# roiviz itself, editable and without dependencies (requirements.txt pins them): Streamlit serves
# the live stage's script as a file only for a component of an installed distribution
# (pyproject.toml, [tool.streamlit.component]); without it the script goes inline with every
# release (roiviz/app/ui_stage.py).
$(VENV)/.app: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(WHEELS) -r requirements.txt
	$(PY) -m pip install --quiet --no-deps $(WHEELS) -e .
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt $(VENV)/.app
	$(PY) -m pip install --quiet $(WHEELS) -r requirements-test.txt
	touch $@

# torchvision's differentiable Python RoI Align, the box-gradient oracle of tests/test_box_grad.py:
# the wheel's files only (--no-deps, its own directory; the package is never imported).
.oracle/.installed: requirements-oracle.txt
	$(PY) -m pip install --quiet --no-deps --target .oracle -r requirements-oracle.txt
	touch $@

run: $(VENV)/.app
	ROIVIZ_PUBLIC_URL='$(PUBLIC_URL)' $(PY) -m roiviz.app.warm app.py

serve: $(VENV)/.app proxy
	$(PY) deploy/serve.py --workers $(WORKERS) --port $(PORT) --bind $(BIND) --public-url '$(PUBLIC_URL)'

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

proxy:
	@if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then \
		echo "Installing Debian's haproxy for make serve and the proxy tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy; \
	fi

test: $(VENV)/.test .oracle/.installed chromium proxy
	$(PY) -m pytest

bench: $(VENV)/.test .oracle/.installed
	$(PY) benchmarks/bench_ops.py
