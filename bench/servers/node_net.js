// Echo server on Node's net module, or on its tls module when CERT and KEY (PEM files) are given.
// usage: node node_net.js PORT [HOST [CERT KEY]]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
'use strict';
const fs = require('fs');
const net = require('net');
const tls = require('tls');

const port = Number(process.argv[2] || 0);
const host = process.argv[3] || '127.0.0.1';
const [certFile, keyFile] = process.argv.slice(4);

function echo(socket) {
  socket.on('data', (chunk) => {
    // Flow control: stop reading while the write queue is over its high-water mark.
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  socket.on('error', () => socket.destroy()); // a reset client must not end the server
}

// tls.Server is a net.Server: noDelay reaches the TCP sockets, and 'secureConnection' gives the
// TLSSocket once its handshake is done.
const server = certFile
  ? tls.createServer({ noDelay: true, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, echo)
  : net.createServer({ noDelay: true }, echo);
if (certFile) server.on('tlsClientError', () => {}); // a client that fails its handshake is dropped

server.listen({ port, host, backlog: 511 }, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
