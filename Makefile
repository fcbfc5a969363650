# Spaces: `make run` starts the whole application; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo test messages lint format bench-pages bench-room-events bench-audio-latency bench-audio-fanout bench-slow-readers bench-faults bench-multinode bench-hls bench-browser-audio bench-analytics bench-capacity clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $(VENV)/.installed $@

# The translations' .mo files, compiled from the committed .po files (docs/i18n.md): msgfmt when the
# machine has GNU gettext, else polib (requirements.txt).
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))

locale/%.mo: locale/%.po $(VENV)/.installed
	$(BIN)/python -m spaces_project.compile_messages $<

run: $(VENV)/.installed $(MO_FILES)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

demo: $(VENV)/.installed $(MO_FILES)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo

test: $(VENV)/.installed-test $(MO_FILES)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=spaces_project.settings.test
	@# Two passes: the real-time audio tests first, on a machine nothing else is using yet; then
	@# the rest. Both always run; an empty selection (exit code 5) is not a failure.
	$(BIN)/python -m pytest -m live_audio $(PYTEST_ARGS); first=$$?; \
	$(BIN)/python -m pytest -m "not live_audio" $(PYTEST_ARGS); second=$$?; \
	{ [ $$first -eq 0 ] || [ $$first -eq 5 ]; } && { [ $$second -eq 0 ] || [ $$second -eq 5 ]; }

# After marking strings (docs/i18n.md): the new msgids into every language's catalogues (needs GNU
# gettext's xgettext), then compiled. Translate what is new in locale/<lang>/LC_MESSAGES/*.po.
messages: $(VENV)/.installed
	$(BIN)/python -m spaces_project.compile_messages --extract

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-pages: $(VENV)/.installed-test
	$(BIN)/python bench/pages.py

# Starts its own daphne and throwaway database; needs PostgreSQL and Redis (REDIS_URL, DATABASE_URL).
bench-room-events: $(VENV)/.installed-test
	$(BIN)/python bench/room_events.py $(BENCH_ARGS)

# Start their own daphne, `run_mixer` and throwaway database; need PostgreSQL and Redis.
bench-audio-latency: $(VENV)/.installed-test
	$(BIN)/python bench/audio_latency.py $(BENCH_ARGS)

bench-audio-fanout: $(VENV)/.installed-test
	$(BIN)/python bench/audio_fanout.py --listeners 2000 $(BENCH_ARGS)

bench-slow-readers: $(VENV)/.installed-test
	$(BIN)/python bench/slow_readers.py --listeners 100 --stalled 5 --seconds 120 $(BENCH_ARGS)

# Kills the room's mixer and the host's web process, 10 times each, under 200 listeners (nginx, its own Redis).
bench-faults: $(VENV)/.installed-test
	$(BIN)/python bench/faults.py $(BENCH_ARGS)

# Three nodes behind one nginx (docs/scaling-out.md); needs Debian's nginx, redis-server and PostgreSQL.
bench-multinode: $(VENV)/.installed-test
	$(BIN)/python bench/multinode.py $(BENCH_ARGS)

# Needs Debian's nginx and a C compiler with OpenSSL's headers (cc, libssl-dev).
bench-hls: $(VENV)/.installed-test
	$(BIN)/python bench/hls_fanout.py --listeners 10000 $(BENCH_ARGS)

# Live audio in real pages: Debian's Chromium (/usr/bin/chromium) with fake microphones, daphne and
# `run_mixer` on a throwaway database; needs PostgreSQL and Redis.
bench-browser-audio: $(VENV)/.installed-test
	$(BIN)/python bench/browser_audio.py $(BENCH_ARGS)

# Hosts' analytics: the live path with and without collection (3 interleaved rounds of each, 2,000
# listeners over 60 s), then a 10,000-session room's report live and ended; under 10 minutes. Starts
# its own daphne and flushing process on a throwaway database; needs PostgreSQL and Redis.
bench-analytics: $(VENV)/.installed-test
	$(BIN)/python bench/analytics.py $(BENCH_ARGS)

# The capacity of one box: 1, 2, 3... live rooms (host and two speakers taking turns, 50 listeners each,
# recording and captions on) until one loses a bundle, mixer lag p99 passes 100 ms or captions skip
# more than 5 %; at most 16 rooms and 30 minutes. Starts its own daphne, run_mixer, run_captioner and
# Celery worker on a throwaway database; needs PostgreSQL, Redis and espeak-ng. Measure it alone.
bench-capacity: $(VENV)/.installed-test
	$(BIN)/python bench/capacity.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles test-artifacts .pytest_cache $(MO_FILES)
