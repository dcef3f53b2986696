// A ProxyCommand made of src/edge/fdpass.ts alone, for the tests to run on each Node release:
//   NODE fdpass-driver.mjs HOST PORT
// Connects (paused, so not a byte of the server's is read), then hands the socket over fd 1
// (ssh -o ProxyUseFdpass=yes) and exits by itself, which also proves the module leaves nothing
// running. On a refusal it says why and relays instead, so a test also sees that a refusal left the
// stream clean. What it says goes to stderr, one line each, starting `fdpass-driver:`.
import { connect } from 'node:net';
import { fdPassingAvailable, passSocket } from '../../dist/edge/fdpass.js';

const [host, port] = process.argv.slice(2);
const say = (text) => process.stderr.write(`fdpass-driver: ${text}\n`);

// origin: epoch milliseconds of this process's start, to time its exit against from outside.
const origin = performance.timeOrigin;
say(`started pid=${process.pid} node=${process.version} origin=${origin} available=${fdPassingAvailable()}`);
const socket = connect({ host, port: Number(port) });
socket.pause();
socket.on('error', (error) => {
  say(`connection failed: ${error.message}`);
  process.exitCode = 1;
});
socket.once('connect', () => {
  const connectedMs = performance.now();
  passSocket(socket).then(
    () => say(`passed connected=${connectedMs.toFixed(1)} passed=${performance.now().toFixed(1)}`),
    (error) => {
      say(`refused ${error.reason}: ${error.message}`);
      process.stdin.pipe(socket);
      socket.pipe(process.stdout);
    },
  );
});
