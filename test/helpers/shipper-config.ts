// Config and TLS material for the shipper's transport, built the way the daemon builds them:
// a TOML text through parseConfig, and the files through readTlsMaterial.

import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsMaterial } from '../../src/config/credentials.js';
import { readTlsMaterial } from '../../src/config/credentials.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { CertFiles, Pki } from './pki.js';

export interface ClientSetup {
  readonly config: Config;
  readonly tls: TlsMaterial;
  readonly dir: string;
}

export interface ClientSetupOptions {
  readonly url: string;
  readonly pki: Pki;
  readonly client?: CertFiles;
  readonly ca?: string;
  readonly token?: string;
  readonly idleTimeoutS?: number;
  readonly connectTimeoutS?: number;
  readonly hostId?: string;
  readonly serverName?: string;
}

/** A config file in a fresh temp folder, parsed, and its TLS material read. */
export async function clientSetup(o: ClientSetupOptions): Promise<ClientSetup> {
  const dir = await mkdtemp(join(tmpdir(), 'shipper-client-'));
  const client = o.client ?? o.pki.client;
  const lines = [
    `host_id = "${o.hostId ?? 'lab-01'}"`,
    '[paths]',
    `data_dir = ${JSON.stringify(join(dir, 'data'))}`,
    '[receiver]',
    `url = ${JSON.stringify(o.url)}`,
    `ca = ${JSON.stringify(o.ca ?? o.pki.ca.cert)}`,
    `cert = ${JSON.stringify(client.cert)}`,
    `key = ${JSON.stringify(client.key)}`,
    `connect_timeout_s = ${o.connectTimeoutS ?? 5}`,
    `idle_timeout_s = ${o.idleTimeoutS ?? 5}`,
  ];
  if (o.serverName) lines.push(`server_name = ${JSON.stringify(o.serverName)}`);
  if (o.token !== undefined) {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${o.token}\n`);
    await chmod(tokenFile, 0o600);
    lines.push(`token_file = ${JSON.stringify(tokenFile)}`);
  }
  const file = join(dir, 'lab-host.toml');
  const text = `${lines.join('\n')}\n`;
  await writeFile(file, text);
  const config = parseConfig(file, text, {});
  return { config, tls: await readTlsMaterial(config), dir };
}
