# lrlab — two commands set up everything: `make lab` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(abspath $(VENV))/bin
# nbgrader calls `alembic` as a subprocess: the venv's bin must be on PATH.
export PATH := $(BIN):$(PATH)

# make lab NO_BROWSER=1 on a server; LAB_ARGS="--port 9999" passes anything else to JupyterLab.
LAB_FLAGS := --notebook-dir=.
ifdef NO_BROWSER
LAB_FLAGS += --no-browser
endif
ifeq ($(shell id -u),0)
LAB_FLAGS += --allow-root
endif

# JupyterLab's settings for everyone: no news or update prompt on first open.
LAB_OVERRIDES := classroom/config/everyone/lab/overrides.json
# A student's JupyterLab: the classroom's student configuration (student, everyone: no formgrader,
# no Create Assignment) under self-study's (no exchange here: no Nbgrader menu, no Assignments tab).
empty :=
LAB_CONFIG_PATH := $(subst $(empty) $(empty),:,$(abspath $(addprefix classroom/config/,self-study student everyone)))

.PHONY: venv lab test test-fast release grade-demo bench strip clean classroom

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt $(LAB_OVERRIDES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[course,dev,classroom]'
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp $(LAB_OVERRIDES) $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

## Open JupyterLab on the course (make lab NO_BROWSER=1 on a server).
lab: venv
	JUPYTER_CONFIG_PATH=$(LAB_CONFIG_PATH)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  $(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_ARGS) lessons/01_param_groups.ipynb

## The whole test suite: unit, notebooks, nbgrader round trip, browser.
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Everything but the notebook executions, the grading round trip and the browser.
test-fast: venv
	$(BIN)/python -m pytest -m "not notebook and not grading and not browser" $(PYTEST_ARGS)

## Regenerate exercises/ from solutions/ with nbgrader.
release: venv
	$(BIN)/python -m autograder release

## Grade the bundled sample submissions in a temporary folder.
grade-demo: venv
	$(BIN)/python -m autograder demo

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## Remove outputs and execution counts from every notebook (before committing).
strip: venv
	$(BIN)/nbstripout --keep-id lessons/*.ipynb solutions/*/*.ipynb exercises/*/*.ipynb

## The classroom: JupyterHub + nbgrader's exchange on 127.0.0.1:8000 (classroom/README.md).
## As root it creates the roster's Unix accounts; CLASSROOM_ARGS="--port 9000" passes options.
classroom: venv classroom/node_modules/.package-lock.json
	$(BIN)/python -m classroom $(CLASSROOM_ARGS)

classroom/node_modules/.package-lock.json: classroom/package-lock.json
	npm ci --prefix classroom --no-audit --no-fund --loglevel=error

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
