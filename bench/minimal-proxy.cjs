#!/usr/bin/env node
'use strict';
// The least a Node ProxyCommand can do, as a floor for the bench (rows 1 and 2): read the
// secret, knock with the same ping command as pingknock, connect, pipe both ways. No checks, no
// messages, no options, no clean-up. What pingknock costs beyond this is its own.
// Without PORT it stops after the knock (exit status: ping's): the part no Node proxy can avoid,
// since only the privileged ping binary may send ICMP for an ordinary user.
// Usage: minimal-proxy.cjs SECRET_FILE IPV4_ADDRESS [PORT]
const { readFileSync } = require('node:fs');
const { spawn } = require('node:child_process');

const [secretFile, address, port] = process.argv.slice(2);
const hex = Buffer.from(readFileSync(secretFile, 'latin1').trim(), 'latin1').toString('hex');
const ping = spawn('ping', ['-4', '-n', '-q', '-c', '1', '-i', '0.2', '-w', '3', '-p', hex, address], {
  stdio: 'ignore',
});
ping.on('exit', (code) => {
  if (code !== 0 || port === undefined) process.exit(code === 0 ? 0 : 5);
  const socket = require('node:net').connect({ host: address, port: Number(port), allowHalfOpen: true });
  process.stdin.pipe(socket);
  socket.pipe(process.stdout);
});
