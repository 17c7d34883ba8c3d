// Shared set-up of the fault tests: a world whose shipper talks to the reference receiver
// through the fault-injecting proxy, plus the checks every fault case ends with.

import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startFaultProxy, type FaultProxy, type Plan } from '../helpers/fault-proxy.mjs';
import { storedEquals } from '../helpers/tree.js';
import { makeWorld, type Overrides, type World } from '../helpers/world.js';

export interface FaultWorld {
  w: World;
  proxy: FaultProxy;
  /** Copies of every episode made, as the recorder wrote them. */
  reference: string;
  ids: string[];
  close(): Promise<void>;
}

export async function makeFaultWorld(overrides: Overrides = {}, plan: Plan = {}): Promise<FaultWorld> {
  const w = await makeWorld();
  const proxy = await startFaultProxy({
    upstream: { host: '127.0.0.1', port: w.receiver!.port },
    serverTls: { ca: w.pki.ca.certPem, cert: w.pki.server.certPem, key: w.pki.server.keyPem },
    clientTls: { ca: w.pki.ca.certPem, cert: w.pki.client.certPem, key: w.pki.client.keyPem },
    plan,
  });
  await w.writeConfig({ 'receiver.url': proxy.url, ...overrides });
  const reference = join(w.dir, 'reference');
  await mkdir(reference);
  return {
    w,
    proxy,
    reference,
    ids: [],
    async close() {
      await proxy.close();
      await w.close();
    },
  };
}

/** An episode in episodes/, with a copy kept aside to compare what the receiver stores. */
export async function addEpisode(fw: FaultWorld, id: string, files: Record<string, string | Buffer>): Promise<void> {
  await fw.w.makeEpisode(id, files);
  await cp(join(fw.w.episodes, id), join(fw.reference, id), { recursive: true, preserveTimestamps: true });
  fw.ids.push(id);
}

/** Nothing was lost or set aside: every episode is waiting or shipped, none quarantined. */
export async function expectNothingLost(fw: FaultWorld): Promise<void> {
  const { w } = fw;
  expect(await w.list(w.quarantine)).toEqual([]);
  const here = [...(await w.list(w.episodes)), ...(await w.list(w.shipped))].sort();
  expect(here).toEqual([...fw.ids].sort());
}

/** Every episode is in shipped/ once, the receiver holds each intact, nothing is left over. */
export async function expectAllShipped(fw: FaultWorld): Promise<void> {
  const { w } = fw;
  const ids = [...fw.ids].sort();
  expect(await w.list(w.shipped)).toEqual(ids);
  expect(await w.list(w.episodes)).toEqual([]);
  expect(await w.list(w.quarantine)).toEqual([]);
  expect((await w.list(w.outbox)).filter((n) => !n.startsWith('.'))).toEqual([]);
  expect((await w.stored()).filter((n) => !n.startsWith('.'))).toEqual(ids.map((id) => `${id}.tar.zst`));
  for (const id of ids) {
    expect(await storedEquals(join(w.store, 'lab-01', `${id}.tar.zst`), id, join(fw.reference, id)), id).toBeNull();
  }
}
