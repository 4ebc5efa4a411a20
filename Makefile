# Two commands matter: `make train` (the default run) and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= outputs/fashion-mnist-default

.PHONY: setup data train test notebooks lab strip-notebooks benchmark gpu-check clean

# every dependency is in pyproject.toml; the venv takes the package editable with all its extras
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip -q
	$(PY) -m pip install -q -e ".[all]"
	touch $@

setup: $(VENV)/.installed

# Fashion-MNIST: data/fashion-mnist/, else Debian's package, else torchvision's download (in dcgan)
data:
	@if [ -d data/fashion-mnist ] || [ -d /usr/share/datasets/fashion-mnist ]; then \
	  echo "Fashion-MNIST found"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist || \
	    echo "apt could not install dataset-fashion-mnist; dcgan will try torchvision's download"; \
	else echo "no apt here; dcgan will try torchvision's download"; fi

# The default run: DCGAN on Fashion-MNIST 32x32, 3 epochs (about 10 minutes on a 2-core CPU)
train: setup data
	$(PY) -m dcgan train --dataset fashion-mnist --image-size 32 --epochs 3 \
	  --snapshot-every 100 --checkpoint-every 500 --out $(RUN)
	@echo "Outputs: $(RUN)/ (samples/, loss.png, d_outputs.png, real_vs_fake.png, progress.html, checkpoints/last.pt)"

test: setup data
	$(PY) -m pytest -q

notebooks: setup data
	mkdir -p outputs/notebooks
	for nb in notebooks/0*.ipynb; do \
	  $(PY) -m papermill --cwd notebooks "$$nb" "outputs/notebooks/$$(basename $$nb)" || exit 1; \
	done

# JupyterLab on this machine. On a remote GPU box, forward the port from your own machine first:
#   ssh -L 8888:localhost:8888 USER@GPU-BOX    then open the URL this prints (with its token)
LAB_PORT ?= 8888
lab: setup
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json  # no news pop-up
	$(VENV)/bin/jupyter lab --notebook-dir=. --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )  # containers run as root

strip-notebooks:
	$(PYTHON) tools/strip_notebooks.py notebooks/*.ipynb

benchmark: setup data
	$(PY) benchmarks/throughput.py

# On a GPU box: CUDA tests, a 64 px run sampled and scored, images/s, torchrun; about 8 minutes.
# The report: outputs/gpu-check/report.md (benchmarks/gpu_check.py --dry-run runs it on a CPU)
gpu-check: setup data
	$(PY) benchmarks/gpu_check.py --out outputs/gpu-check

clean:
	rm -rf $(VENV) .pytest_cache
