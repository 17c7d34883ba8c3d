#!/usr/bin/env node
// A TLS sink for the loopback limit: the receiver's TLS set-up (mutual TLS, same
// certificates), but every request body is read and dropped, nothing hashed, validated or
// stored, and the answer is 201 (200 for the ping). What `curl -T` achieves against it is
// the ceiling of loopback TLS on this machine for one stream.
//
// usage: node sink.mjs --ca FILE --cert FILE --key FILE
// First stderr line: `event=sink_listening url=https://127.0.0.1:PORT`. SIGTERM stops it.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } });
const server = createServer(
  { ca: readFileSync(values.ca), cert: readFileSync(values.cert), key: readFileSync(values.key), requestCert: true, rejectUnauthorized: true },
  (req, res) => {
    let bytes = 0;
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      const status = req.url === '/v1/ping' ? 200 : 201;
      const body = JSON.stringify({ ok: true, bytes }) + '\n';
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  },
);
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  process.stderr.write(`event=sink_listening url=https://127.0.0.1:${server.address().port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
