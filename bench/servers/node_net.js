// Echo server on Node's net module.
// usage: node node_net.js PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
'use strict';
const net = require('net');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (chunk) => {
    // Flow control: stop reading while the write queue is over its high-water mark.
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  socket.on('error', () => socket.destroy()); // a reset client must not end the server
});

server.listen({ port, host, backlog: 511 }, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
