# Quick start: `make serve` (install, build the index if missing, start the page) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch from this machine's wheel cache; on a GPU machine use TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: install serve index test browser clean-index

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (first time: about 10 minutes, mostly compiling llama-cpp-python)..."
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

index: install
	@test -f data/index/manifest.json || $(BIN)/rag rebuild

serve: index
	$(BIN)/rag serve

# The browser test drives Debian's chromium; install it when missing (needs root or sudo).
# fonts-noto-cjk makes Chinese legible in the test's screenshots.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		echo "Installing chromium, chromium-driver and fonts-noto-cjk for the browser test..."; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null \
		|| echo "warning: could not install chromium; the browser test will be skipped"; \
	fi

test: install browser
	$(BIN)/python -m pytest

clean-index:
	rm -rf data/index
