# keybroker — two commands: `make run` and `make test`.
SHELL := /bin/bash
DEV_DIR ?= .dev
NODE_BIN := node_modules/.bin

.PHONY: run test test-postgres install build web chromium lint typecheck bench gen-proto clean

# Install when node_modules is missing or was installed from a different package-lock.json.
# Keyed on the lock file's content, not its mtime: a fresh checkout must not wipe a good install.
install:
	@want=$$(sha256sum package-lock.json | cut -c1-64); \
	if [ ! -d node_modules ] || [ "$$(cat node_modules/.lock-sha256 2>/dev/null)" != "$$want" ]; then \
	  npm ci --no-audit --no-fund && echo "$$want" > node_modules/.lock-sha256; \
	fi

## make build: the broker into dist/src, the console front end, and the installable @keybroker/client package into dist/client.
build: install web
	$(NODE_BIN)/tsc -p tsconfig.build.json
	node --import tsx src/build/client_package.ts dist/client

# The console's front end (src/console/web, vanilla TS + inline SVG) bundled by esbuild into dist/console-web.
web: install
	node --import tsx src/console/build_web.ts

# The console's browser tests drive Debian's Chromium (playwright-core, no downloaded browser build).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the console browser tests (apt-get)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; \
	fi

typecheck: install
	$(NODE_BIN)/tsc --noEmit -p .
	$(NODE_BIN)/tsc --noEmit -p src/console/web

lint: install
	$(NODE_BIN)/biome check src test bin

## make run: dev PKI + config under .dev/ (if absent), then the broker on its embedded SQLite.
run: build
	@node bin/keybroker.js dev-init --dir $(DEV_DIR)
	@echo
	@echo "keybroker is starting. From a second terminal, get a token:"
	@echo
	@echo "  node bin/keybroker.js token --audience payments-api --scope payments:read \\"
	@echo "    --ca $(DEV_DIR)/pki/ca.pem --cert $(DEV_DIR)/pki/billing.pem --key $(DEV_DIR)/pki/billing-key.pem"
	@echo
	@echo "  node bin/keybroker.js whoami --ca $(DEV_DIR)/pki/ca.pem --cert $(DEV_DIR)/pki/agent.pem --key $(DEV_DIR)/pki/agent-key.pem"
	@echo "  curl -s --cacert $(DEV_DIR)/pki/ca.pem https://localhost:7080/.well-known/jwks.json"
	@echo
	@echo "Injection proxy demo (an agent calls an API without holding its key): start"
	@echo "  node bin/keybroker.js dev-upstream --dir $(DEV_DIR)"
	@echo "and follow 'Try it against the dev config' in README.md."
	@echo
	exec node bin/keybroker.js serve --config $(DEV_DIR)/keybroker.yaml

## make test: type-check, lint, build (the console front end, and the packages the pack test installs), Chromium, the whole suite on SQLite, then the end-to-end half on PostgreSQL.
test: typecheck lint build chromium
	$(NODE_BIN)/mocha 'test/**/*.test.ts'
	@$(MAKE) --no-print-directory test-postgres

# The end-to-end tests again with every TestBroker on a fresh PostgreSQL database (SQLite-only
# tests are left out or skip themselves). With CI set this half must run; elsewhere it is skipped,
# with a notice, when nothing answers on 127.0.0.1:5432.
PG_E2E := core_tokens core_mtls core_issue_requests issue_token delegate delegate_issuer delegate_proxy \
  proxy proxy_leaks fetch_secret admin_service admin_bad_input admin_identity client_sdk \
  oidc_exchange oauth_token_endpoint verifier_resource_server verifier_feed introspect upstream_not_found
test-postgres: install
	@if [ -z "$$CI" ] && ! node -e "require('net').connect(5432,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"; then \
	  echo "NOTICE: PostgreSQL is not answering on 127.0.0.1:5432: skipping the PostgreSQL half of the suite."; \
	  echo "        Start it (pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start) and run make test-postgres."; \
	else \
	  KEYBROKER_TEST_DRIVER=postgres $(NODE_BIN)/mocha $(patsubst %,test/%.test.ts,$(PG_E2E)); \
	fi

bench: build
	npm run bench

gen-proto: install
	$(NODE_BIN)/proto-loader-gen-types --keepCase --longs=Number --enums=String --defaults --oneofs \
	  --grpcLib=@grpc/grpc-js --importFileExtension=.js --outDir=src/generated proto/keybroker/v1/broker.proto
	node --import tsx src/build/client_descriptor.ts

clean:
	rm -rf dist
