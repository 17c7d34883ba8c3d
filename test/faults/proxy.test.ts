// Every fault the proxy can inject between `shipper --once` and the real reference
// receiver: per SPEC the episode stays (or ships), nothing is quarantined, the log names the
// right class and kind, and the next healthy pass ships everything intact.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionFault, RequestFault } from '../helpers/fault-proxy.mjs';
import type { Overrides } from '../helpers/world.js';
import { addEpisode, expectAllShipped, expectNothingLost, makeFaultWorld, type FaultWorld } from './helpers.js';

interface Case {
  title: string;
  /** Stop listening (connection refused). */
  refuse?: boolean;
  conn?: ConnectionFault;
  ping?: RequestFault;
  put?: RequestFault;
  overrides?: Overrides;
  /** Size of the episode's incompressible payload. */
  bytes: number;
  exit: number;
  /** A log line the faulty pass must write. */
  log: RegExp;
  /** Whether the faulty pass ships the episode anyway (slow but moving, a cut answer body). */
  ships: boolean;
}

const UNREACHABLE = (kind: string) => new RegExp(`event=pass_stopped class=unreachable code=SHIP_RECEIVER_UNREACHABLE (status=\\d+ )?kind=${kind} `);

export const CASES: Case[] = [
  { title: 'the receiver refuses the connection', refuse: true, bytes: 100_000, exit: 69, log: UNREACHABLE('refused'), ships: false },
  { title: 'the connection is reset as soon as it is accepted', conn: { kind: 'reset' }, bytes: 100_000, exit: 69, log: UNREACHABLE('reset'), ships: false },
  { title: 'the TLS handshake is delayed, within connect_timeout_s', conn: { kind: 'delay', ms: 400 }, bytes: 100_000, exit: 0, log: /event=shipped episode=\S+ as=\S+ status=201/, ships: true },
  {
    title: 'the TLS handshake is delayed past connect_timeout_s',
    conn: { kind: 'delay', ms: 2500 },
    overrides: { 'receiver.connect_timeout_s': 1 },
    bytes: 100_000,
    exit: 69,
    log: UNREACHABLE('connect_timeout'),
    ships: false,
  },
  { title: 'the TLS handshake never happens', conn: { kind: 'hang' }, overrides: { 'receiver.connect_timeout_s': 1 }, bytes: 100_000, exit: 69, log: UNREACHABLE('connect_timeout'), ships: false },
  { title: 'the ping gets garbage for an answer', ping: { kind: 'garbage', bytes: 200 }, bytes: 100_000, exit: 69, log: UNREACHABLE('protocol'), ships: false },
  { title: 'the ping gets no answer at all', ping: { kind: 'stall', afterBytes: 0 }, overrides: { 'receiver.idle_timeout_s': 1 }, bytes: 100_000, exit: 69, log: UNREACHABLE('idle_timeout'), ships: false },
  { title: 'the upload is reset mid-way', put: { kind: 'reset', afterBytes: 300_000 }, bytes: 4_000_000, exit: 69, log: UNREACHABLE('reset'), ships: false },
  { title: 'the upload stalls (the proxy stops reading)', put: { kind: 'stall', afterBytes: 300_000 }, overrides: { 'receiver.idle_timeout_s': 1.5 }, bytes: 24_000_000, exit: 69, log: UNREACHABLE('idle_timeout'), ships: false },
  {
    title: 'the upload is read at a trickle, slower than the link but never idle',
    // The idle timer sees bytes handed to the socket, not bytes acknowledged: the kernel's
    // send buffer (MBs on loopback) must drain within idle_timeout_s at the trickle's rate.
    put: { kind: 'trickle', bytesPerSec: 3_000_000 },
    overrides: { 'receiver.idle_timeout_s': 4 },
    bytes: 6_000_000,
    exit: 0,
    log: /event=shipped episode=\S+ as=\S+ status=201/,
    ships: true,
  },
  {
    title: 'a 201 arrives before the body is done (not a receipt: the episode stays)',
    put: { kind: 'early', afterBytes: 200_000, status: 201 },
    bytes: 24_000_000,
    exit: 69,
    log: /event=pass_stopped class=unreachable code=SHIP_RECEIVER_UNREACHABLE status=201 kind=protocol message=".*answered 201 after only \d+ of \d+ bytes/,
    ships: false,
  },
  {
    title: 'a 503 arrives before the body is done',
    put: { kind: 'early', afterBytes: 200_000, status: 503 },
    bytes: 4_000_000,
    exit: 75,
    log: /event=retry_later episode=\S+ code=SHIP_RECEIVER_TRANSIENT status=503 /,
    ships: false,
  },
  { title: 'the receiver stores the upload but the answer never comes back', put: { kind: 'drop' }, bytes: 2_000_000, exit: 69, log: UNREACHABLE('reset'), ships: false },
  { title: 'the answer is garbage', put: { kind: 'garbage', bytes: 300 }, bytes: 2_000_000, exit: 69, log: UNREACHABLE('protocol'), ships: false },
  { title: 'the answer breaks off inside its status line', put: { kind: 'truncated', keep: 10 }, bytes: 2_000_000, exit: 69, log: UNREACHABLE('(reset|protocol)'), ships: false },
  { title: 'the answer breaks off inside its headers', put: { kind: 'truncated', keep: 60 }, bytes: 2_000_000, exit: 69, log: UNREACHABLE('(reset|protocol)'), ships: false },
  {
    title: 'the answer breaks off inside its body, after a complete 201 head',
    put: { kind: 'truncated', keep: 5, afterHead: true },
    bytes: 2_000_000,
    exit: 0,
    log: /event=shipped episode=\S+ as=\S+ status=201/,
    ships: true,
  },
];

let fw: FaultWorld;
beforeAll(async () => {
  fw = await makeFaultWorld({ 'ship.concurrency': 1 });
});
afterAll(async () => {
  await fw?.close();
});

describe('one fault on the path to the receiver, then a healthy pass', () => {
  let n = 0;
  for (const c of CASES) {
    it(`${c.title}: exit ${c.exit}, ${c.ships ? 'shipped' : 'the episode stays'}, nothing quarantined; the next pass ships it`, async () => {
      const { w, proxy } = fw;
      const id = `ep-${String(++n).padStart(2, '0')}`;
      await addEpisode(fw, id, { 'payload.bin': randomBytes(c.bytes), 'notes/run.txt': `case ${c.title}\n` });
      await w.writeConfig({ 'receiver.url': proxy.url, 'ship.concurrency': 1, ...c.overrides });
      proxy.setPlan({
        ...(c.conn ? { connection: () => c.conn } : {}),
        request: (r) => (r.method === 'PUT' ? (c.put ?? { kind: 'pass' }) : (c.ping ?? { kind: 'pass' })),
      });
      if (c.refuse) await proxy.refuse();
      const seen = proxy.events.length;

      const r = await w.run(['--once'], { timeoutMs: 60_000 });
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code, r.stdout + r.stderr).toBe(c.exit);
      expect(r.stderr).toMatch(c.log);
      await expectNothingLost(fw);
      expect(await w.list(c.ships ? w.shipped : w.episodes)).toContain(id);
      if (c.ping) expect(proxy.events.slice(seen).filter((e) => e.method === 'PUT')).toEqual([]);

      proxy.setPlan({});
      await proxy.accept();
      await w.writeConfig({ 'receiver.url': proxy.url, 'ship.concurrency': 1 });
      const healed = await w.run(['--once'], { timeoutMs: 60_000 });
      expect(healed.code, healed.stdout + healed.stderr).toBe(0);
      await expectAllShipped(fw);
      if (c.put?.kind === 'drop') {
        // The receiver had stored it: the re-send of the same bytes is answered 200 (identical).
        expect(healed.stderr).toMatch(new RegExp(`event=shipped episode=${id} as=${id} status=200`));
      }
    });
  }
});
