# Two commands matter: `make demo` and `make test`. Both start project-local
# Postgres and Redis (scripts/services.sh) unless DATABASE_URL and REDIS_URL
# are already set.

SERVICES := scripts/with-services.sh
CLI := node dist/cli/main.js

.PHONY: install build lint typecheck check test demo run services-up services-down services-status bench bench-full clean

# npm ci only when the lockfile changed since the last install.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

install: node_modules/.package-lock.json

build: install
	npm run build

lint: install
	npx biome check .

typecheck: install
	npx tsc -p tsconfig.json --noEmit

check: lint typecheck

test: check
	$(SERVICES) npx tap

demo: build
	$(SERVICES) $(CLI) demo --devices 100 --rate 1 --duration 30

# Broker on 127.0.0.1:1883 (anonymous devices allowed), bridge, API on
# 127.0.0.1:8080 without tokens (local use), until Ctrl-C. MQTT_HOST and
# HTTP_HOST open it to other machines; API_AUTH=bearer with API_TOKENS
# closes the API.
run: build
	MQTT_HOST=$${MQTT_HOST:-127.0.0.1} HTTP_HOST=$${HTTP_HOST:-127.0.0.1} \
	BROKER_ALLOW_ANONYMOUS=true API_AUTH=$${API_AUTH:-none} $(SERVICES) $(CLI) all

# The standard load suite (relay, raw COPY and bare HTTP baselines, QoS 1
# step ramp, half rate, firehose, 2,000-device fleet, reads, mixed; about
# 5 minutes on 2 cores): report.json, report.html and summary.md in
# load/results/<time>/, the summary printed. Then the micro-benchmarks,
# one JSON line each, with ratios against baselines run in the same process.
bench: build
	ulimit -n $$(ulimit -Hn); LOAD_CLI=dist $(SERVICES) npx tsx load/run.ts --suite standard
	npx tsx load/bench-encode.ts
	npx tsx load/bench-decode.ts
	$(SERVICES) npx tsx load/bench-copy.ts 1000000 5000
	$(SERVICES) npx tsx load/bench-broker-persistence.ts 20000 100
	$(SERVICES) npx tsx load/bench-ack-modes.ts 1000 15 4

# As bench, with 10,000 device connections and longer steps (about 10 minutes).
bench-full: build
	ulimit -n $$(ulimit -Hn); LOAD_CLI=dist $(SERVICES) npx tsx load/run.ts --suite full

services-up:
	scripts/services.sh start

services-down:
	scripts/services.sh stop

services-status:
	scripts/services.sh status

clean:
	rm -rf dist .tap
