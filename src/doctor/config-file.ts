// The configuration file alone, without the TLS material: what the local tools (`status`,
// `requeue`, `quarantine-unstamped`) need to find the folders. They must work for an
// operator who cannot read the client key (mode 600, owned by the shipper user) and while
// the certificate is expired, so they never open the key, the certificate or the token.
// A missing or broken file is still SHIP_CONFIG_INVALID (exit 78) with the loader's words.

import { readFile } from 'node:fs/promises';
import { configError } from '../config/config-error.js';
import { parseConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { errnoOf } from '../errors.js';

/** Read and validate `file` (TOML, keys, values, paths); no certificate or key is read. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const errno = errnoOf(err);
    const fix =
      errno === 'ENOENT'
        ? 'create it from lab-host.toml.example, or pass --config PATH (or set $SHIPPER_CONFIG)'
        : errno === 'EACCES'
          ? 'run as root or as the user the shipper runs as (sudo -u shipper ...)'
          : 'check its permissions';
    throw configError(file, null, `cannot read the file (${errno ?? 'error'})`, fix, err);
  }
  return parseConfig(file, text, env);
}
