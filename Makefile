# keybroker — two commands: `make run` and `make test`.
SHELL := /bin/bash
DEV_DIR ?= .dev
NODE_BIN := node_modules/.bin

.PHONY: run test install build lint typecheck bench gen-proto clean

# Install when node_modules is missing or was installed from a different package-lock.json.
# Keyed on the lock file's content, not its mtime: a fresh checkout must not wipe a good install.
install:
	@want=$$(sha256sum package-lock.json | cut -c1-64); \
	if [ ! -d node_modules ] || [ "$$(cat node_modules/.lock-sha256 2>/dev/null)" != "$$want" ]; then \
	  npm ci --no-audit --no-fund && echo "$$want" > node_modules/.lock-sha256; \
	fi

## make build: the broker into dist/src, and the installable @keybroker/client package into dist/client.
build: install
	$(NODE_BIN)/tsc -p tsconfig.build.json
	node --import tsx src/build/client_package.ts dist/client

typecheck: install
	$(NODE_BIN)/tsc --noEmit -p .

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

## make test: type-check, lint, build (the pack test installs the built packages), then the whole suite.
test: typecheck lint build
	$(NODE_BIN)/mocha 'test/**/*.test.ts'

bench: build
	npm run bench

gen-proto: install
	$(NODE_BIN)/proto-loader-gen-types --keepCase --longs=Number --enums=String --defaults --oneofs \
	  --grpcLib=@grpc/grpc-js --importFileExtension=.js --outDir=src/generated proto/keybroker/v1/broker.proto
	node --import tsx src/build/client_descriptor.ts

clean:
	rm -rf dist
