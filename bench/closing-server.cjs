'use strict';
// The loopback server that row 2 (bench/sections/start.ts) and bench/phases.ts time the proxy
// against: it ends every connection at once, so the proxy relays two EOFs and exits. Prints its port.
const server = require('node:net').createServer((socket) => {
  socket.on('error', () => {});
  socket.end();
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
