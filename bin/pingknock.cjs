#!/usr/bin/env node
// A dynamic import keeps this launcher valid whether Node loads it as ESM or CommonJS.
import('../dist/cli.js');
