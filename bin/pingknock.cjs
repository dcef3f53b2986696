#!/usr/bin/env node
'use strict';
// `proxy` runs before every ssh connection: it takes a start-up path without the full command
// line parser (a CommonJS bundle), unless help or the version is asked for.
const [command, ...rest] = process.argv.slice(2);
const wantsHelp = rest.some((arg) => arg === '--help' || arg === '-h' || arg === '--version');
if (command === 'proxy' && !wantsHelp) {
  require('../dist/proxy-main.cjs');
} else {
  import('../dist/cli.js');
}
