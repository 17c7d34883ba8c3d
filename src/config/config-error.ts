import { ErrorCodes, ShipperError } from '../errors.js';

/**
 * The one shape of a configuration error: `config FILE: KEY: what is wrong; how to fix it`.
 * Always SHIP_CONFIG_INVALID, so every one of them ends a CLI mode with exit 78.
 */
export function configError(file: string, key: string | null, problem: string, fix?: string, cause?: unknown): ShipperError {
  const where = key ? `config ${file}: ${key}: ` : `config ${file}: `;
  const message = where + problem + (fix ? `; ${fix}` : '');
  return new ShipperError(ErrorCodes.CONFIG_INVALID, message, { cause, details: { file, key: key ?? undefined } });
}
