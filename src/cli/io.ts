import type { Logger } from '../log/logger.js';

/** What a CLI mode may touch of the process: given by main, replaced in tests. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted by SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

export type ModeFn<A> = (args: A, io: Io) => Promise<number>;
