#!/usr/bin/env node
// The built CLI (make build). During development: npx tsx src/cli/main.ts
import '../dist/src/cli/main.js'
