// One temp folder for the whole test run, removed at its end. Every test helper makes its
// folders with mkdtemp(tmpdir()), and the test processes (and the shippers and receivers
// they start) inherit TMPDIR from here, so they all land inside it. Per-process cleanup
// cannot do this job: vitest ends its worker processes with a signal, so an 'exit' handler
// in a worker never runs, and the PKI, stores and configs of every test file were left
// behind in /tmp, run after run.

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const before = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'shipper-test-'));
  // The mode of /tmp: some tests run steps as an unprivileged user, which must be able to
  // reach (and make) their folders here as it could in /tmp.
  chmodSync(root, 0o1777);
  process.env.TMPDIR = root;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    try {
      rmSync(root, { recursive: true, force: true });
    } catch (err) {
      // A mount a failed test left behind (the disk tests mount tmpfs under it as root).
      process.stderr.write(`test teardown: could not remove ${root} entirely: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  };
}
