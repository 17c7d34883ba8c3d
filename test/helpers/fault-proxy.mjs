// A fault-injecting proxy between the shipper and the real reference receiver, for the
// fault tests (test/faults/) and the soak (test/soak/soak.mjs). Plain JS so that the soak
// script can use it without a build; types in fault-proxy.d.mts.
//
// Why it terminates TLS. A pure TCP relay sees only ciphertext: it can refuse, reset, stall
// or slow a connection, but it cannot tell the ping from the PUT on a kept-alive connection,
// cannot answer "201" before the body is done, and cannot write garbage that the client
// reads as the receiver's answer (garbage inside a TLS session is a MAC failure, a different
// fault). So the proxy is a TLS endpoint with the test PKI's server certificate (which
// requires a client certificate from the test CA, like the receiver) and re-originates each
// request over mutual TLS to the receiver with the test client certificate. Connection-level
// faults act on the raw TCP socket before TLS starts (refuse, reset at accept, delay or
// withhold the handshake); request-level faults act on the decrypted HTTP/1.1 stream.
//
// Each request is forwarded on a fresh upstream connection with `Connection: close`, so the
// receiver answers `Connection: close` too and the client opens a new connection for its
// next request: every request meets the proxy's plan on a connection of its own, and no
// request is ever split across two plans. The shipper always sends Content-Length; a
// chunked request is relayed as is, without request-level faults.
//
// Faults (what each one does to the request it is given):
//   connection: pass | reset (RST at accept) | delay {ms} (hold the handshake) | hang (never handshake)
//   request:    pass
//               reset {afterBytes}          RST after that many body bytes
//               stall {afterBytes}          stop reading after that many body bytes (the upload stalls)
//               trickle {bytesPerSec}       read the body at that rate, forwarding it
//               early {afterBytes, status}  answer `status` after that many body bytes, then close
//               drop                        forward it all, let the receiver answer, close without answering
//               garbage {bytes}             read the body, answer random bytes, close
//               truncated {keep, afterHead} forward it all, relay only `keep` bytes of the answer
//                                           (of its body, with afterHead), close

import { randomBytes } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { setImmediate, setTimeout, clearTimeout } from 'node:timers';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';

const HEAD_LIMIT = 64 * 1024;

/** Start a proxy on 127.0.0.1 (port 0 = any) in front of `upstream`. */
export async function startFaultProxy(options) {
  const { upstream, serverTls, clientTls } = options;
  const plan = { connection: options.plan?.connection ?? (() => ({ kind: 'pass' })), request: options.plan?.request ?? (() => ({ kind: 'pass' })) };
  const stats = { connections: 0, requests: 0, bytesIn: 0, byFault: {} };
  const events = [];
  const sockets = new Set();
  let listening = null;
  let port = options.port ?? 0;
  const count = (kind) => (stats.byFault[kind] = (stats.byFault[kind] ?? 0) + 1);
  const event = (e) => {
    e.t = Date.now();
    events.push(e);
    if (events.length > 10_000) events.splice(0, 5_000);
  };

  const tlsServer = createTlsServer({
    ca: serverTls.ca,
    cert: serverTls.cert,
    key: serverTls.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  tlsServer.on('tlsClientError', (err, socket) => {
    event({ what: 'tls_client_error', code: err.code });
    socket.destroy();
  });
  tlsServer.on('secureConnection', (socket) => serveConnection(socket));

  const onRaw = (raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    const n = ++stats.connections;
    const fault = plan.connection(n) ?? { kind: 'pass' };
    count(`conn:${fault.kind}`);
    event({ what: 'connection', conn: n, fault: fault.kind });
    switch (fault.kind) {
      case 'reset':
        raw.resetAndDestroy();
        return;
      case 'hang':
        raw.pause();
        return;
      case 'delay': {
        raw.pause();
        const t = setTimeout(() => {
          if (!raw.destroyed) tlsServer.emit('connection', raw);
        }, fault.ms);
        raw.once('close', () => clearTimeout(t));
        return;
      }
      default:
        tlsServer.emit('connection', raw);
    }
  };
  let netServer = null;

  function listen() {
    // A new listening socket each time: a closed net.Server is not reused.
    netServer = createNetServer(onRaw);
    return new Promise((resolve, reject) => {
      netServer.once('error', reject);
      netServer.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        netServer.off('error', reject);
        port = netServer.address().port;
        listening = true;
        resolve();
      });
    });
  }

  /** One client connection: read a request head, apply the plan, relay. */
  function serveConnection(client) {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > HEAD_LIMIT) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const rest = head.subarray(end + 4);
      serveRequest(client, head.subarray(0, end).toString('latin1'), rest);
    };
    client.on('data', onData);
  }

  function serveRequest(client, headText, firstBody) {
    const [requestLine, ...headerLines] = headText.split('\r\n');
    const [method = '', path = ''] = requestLine.split(' ');
    const headers = {};
    for (const line of headerLines) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    const length = chunked ? Infinity : Number(headers['content-length'] ?? 0);
    const n = ++stats.requests;
    const raw = client._parent ?? client;
    let fault = plan.request({ req: n, method, path, headers, length }) ?? { kind: 'pass' };
    if (chunked) fault = { kind: 'pass' };
    count(fault.kind);
    const ev = { what: 'request', req: n, method, path, length, fault: fault.kind, body: 0, outcome: 'open' };
    event(ev);

    const kept = headerLines.filter((l) => !/^connection\s*:/i.test(l));
    const upstreamHead = Buffer.from([requestLine, ...kept, 'connection: close', '', ''].join('\r\n'), 'latin1');
    // A request stalled or reset before its first body byte never reaches the receiver.
    const cutAtOnce = (fault.kind === 'stall' || fault.kind === 'reset') && (fault.afterBytes ?? 0) <= 0;
    const needsUpstream = fault.kind !== 'garbage' && fault.kind !== 'early' && !cutAtOnce;
    let up = null;
    let answered = false;
    const finish = (outcome) => {
      if (ev.outcome === 'open') ev.outcome = outcome;
    };
    const closeBoth = (outcome, reset = false) => {
      finish(outcome);
      if (reset && typeof raw.resetAndDestroy === 'function') raw.resetAndDestroy();
      else client.destroy();
      up?.destroy();
    };

    if (needsUpstream) {
      up = tlsConnect({ host: upstream.host, port: upstream.port, servername: 'localhost', ca: clientTls.ca, cert: clientTls.cert, key: clientTls.key });
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      up.on('error', () => closeBoth('upstream_error'));
      up.write(upstreamHead);
      let answer = 0;
      let seen = Buffer.alloc(0);
      let headEnd = -1;
      up.on('data', (d) => {
        if (fault.kind === 'drop') return;
        if (fault.kind === 'truncated') {
          // `keep` bytes of the answer, counted from its start or (afterHead) from its body.
          if (fault.afterHead && headEnd < 0) {
            seen = Buffer.concat([seen, d]);
            const i = seen.indexOf('\r\n\r\n');
            if (i >= 0) headEnd = i + 4;
          }
          if (fault.afterHead && headEnd < 0) return;
          const limit = (fault.afterHead ? headEnd : 0) + fault.keep;
          const room = Math.max(0, limit - answer);
          const chunk = fault.afterHead && answer === 0 ? seen : d;
          answer += chunk.length;
          if (room > 0) client.write(chunk.subarray(0, room));
          if (answer >= limit) {
            finish('truncated');
            client.end();
            setTimeout(() => closeBoth('truncated'), 20);
          }
          return;
        }
        answer += d.length;
        answered = true;
        client.write(d);
      });
      up.on('end', () => {
        if (fault.kind === 'drop') return closeBoth('dropped');
        finish(answered ? 'relayed' : 'no_answer');
        client.end();
      });
      client.on('close', () => {
        finish('client_closed');
        up?.destroy();
      });
    } else {
      client.on('close', () => finish('client_closed'));
    }

    // The body: counted, forwarded (or not) as the fault says.
    let body = 0;
    let paused = false;
    const forward = (d) => {
      if (up && !up.destroyed) up.write(d);
    };
    const take = (d) => {
      if (body >= length) return; // bytes past the announced length: not ours to relay
      const slice = d.subarray(0, Math.min(d.length, length - body));
      const before = body;
      body += slice.length;
      ev.body = body;
      stats.bytesIn += slice.length;
      switch (fault.kind) {
        case 'reset':
        case 'stall':
        case 'early': {
          const limit = fault.afterBytes ?? 0;
          if (before >= limit) return;
          forward(slice.subarray(0, limit - before));
          if (body >= limit) trip();
          return;
        }
        case 'trickle':
          forward(slice);
          paused = true;
          client.pause();
          setTimeout(() => {
            paused = false;
            if (!client.destroyed) client.resume();
          }, Math.ceil((slice.length / fault.bytesPerSec) * 1000));
          break;
        case 'garbage':
          break;
        default:
          forward(slice);
      }
      if (body >= length) bodyDone();
    };
    let tripped = false;
    const trip = () => {
      if (tripped) return;
      tripped = true;
      if (fault.kind === 'reset') return closeBoth('reset', true);
      if (fault.kind === 'stall') {
        finish('stalled');
        client.off('data', take);
        client.pause();
        return;
      }
      // early: an answer before the body is done (the rest is left unread), then the
      // connection goes.
      client.off('data', take);
      client.pause();
      const text = JSON.stringify({ ok: fault.status < 300, error: fault.status < 300 ? undefined : 'proxy_early', detail: 'answered by the fault proxy before the body was done' });
      client.write(`HTTP/1.1 ${fault.status} Early\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
      finish('answered_early');
      setTimeout(() => client.destroy(), 50);
    };
    const bodyDone = () => {
      if (fault.kind === 'garbage') {
        const junk = randomBytes(fault.bytes ?? 64);
        if (junk[0] === 0x48) junk[0] = 0x00; // never start like "HTTP"
        client.write(junk);
        finish('garbage');
        setTimeout(() => client.destroy(), 20);
      }
      // Never half-close towards the receiver: an HTTP server may drop a request whose
      // client sent FIN before the answer. The receiver closes after answering.
    };
    client.on('data', take);
    if ((fault.kind === 'reset' || fault.kind === 'stall' || fault.kind === 'early') && (fault.afterBytes ?? 0) <= 0) trip();
    if (firstBody.length > 0) take(firstBody);
    else if (length === 0) bodyDone();
    if (!paused && !tripped) client.resume();
  }

  await listen();

  return {
    get port() {
      return port;
    },
    get url() {
      return `https://127.0.0.1:${port}`;
    },
    stats,
    events,
    setPlan(p) {
      if (p.connection) plan.connection = p.connection;
      else plan.connection = () => ({ kind: 'pass' });
      if (p.request) plan.request = p.request;
      else plan.request = () => ({ kind: 'pass' });
    },
    /** Stop listening: new connections are refused (ECONNREFUSED); open ones go on. */
    refuse() {
      if (!listening) return Promise.resolve();
      listening = false;
      netServer.close();
      return new Promise((resolve) => setImmediate(resolve));
    },
    /** Listen again on the same port. */
    accept() {
      return listening ? Promise.resolve() : listen();
    },
    /** Drop every open connection now. */
    dropAll() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (listening) netServer.close();
      listening = false;
    },
  };
}
