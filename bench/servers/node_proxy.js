// TCP proxy on Node's net module: each client connection gets one connection to the backend,
// and two pipes carry the bytes both ways (pausing the reading side while the other is full).
// usage: node node_proxy.js PORT HOST BACKEND_PORT   (prints "listening on PORT"; SIGTERM/SIGINT end it)
'use strict';
const net = require('net');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const backendPort = Number(process.argv[4]);

const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ port: backendPort, host, noDelay: true });
  client.pipe(up);
  up.pipe(client);
  // A reset or a refused backend on either side closes both.
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
});

server.listen({ port, host, backlog: 511 }, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
