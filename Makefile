# Two commands matter: `make train` (the default run) and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= outputs/fashion-mnist-default

.PHONY: setup data train test notebooks lab strip-notebooks benchmark gpu-check clean

# every dependency is in pyproject.toml; the venv takes the package editable with all its extras. Where
# $(PYTHON) already imports a CUDA torch (a GPU box's own), the venv reuses it and pip may not replace it
# (REUSE_TORCH=no installs one into the venv instead); tools/setup_venv.py says which torch it took.
REUSE_TORCH ?= yes
$(VENV)/.installed: pyproject.toml
	$(PYTHON) tools/setup_venv.py $(VENV) $(if $(filter no,$(REUSE_TORCH)),--no-reuse)
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

# The default run: DCGAN on Fashion-MNIST 32x32 for the settings' default length (about 10 minutes on a 2-core CPU)
train: setup data
	$(PY) -m dcgan train --dataset fashion-mnist --image-size 32 \
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
	$(VENV)/bin/jupyter lab --config=jupyter/jupyter_server_config.py --notebook-dir=. --no-browser \
	  --ip=127.0.0.1 --port=$(LAB_PORT) \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )  # containers run as root

strip-notebooks:
	$(PYTHON) tools/strip_notebooks.py notebooks/*.ipynb

benchmark: setup data
	$(PY) benchmarks/throughput.py

# On a GPU box: the whole suite on the GPU, a 64 px run and its FID, two ranks on one GPU, compiled and
# graphed steps, images/s, sweep workers; up to 30 minutes (GPU_CHECK_ARGS="--parts torchrun,compiled --budget 600" for
# less). It installs and downloads nothing: it runs on .venv's Python where make setup made one, else on
# $(PYTHON) as it is (the box's own torch). The report: outputs/gpu-check/report.md
CHECK_PY = $(if $(wildcard $(PY)),$(PY),$(PYTHON))
GPU_CHECK_ARGS ?=
gpu-check:
	$(CHECK_PY) benchmarks/gpu_check.py --out outputs/gpu-check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
