// The physical limits each scenario is compared with, measured on the same data and machine:
//   - the zstd library (the native binding the packer uses) compressing in memory, as many
//     frames at once as the packer runs: nothing else can make an archive faster;
//   - the zstd command (-T2), for comparison with the baseline's compressor;
//   - loopback TLS: `curl -T` of a ready .tar.zst to the reference receiver (which hashes,
//     stores with fsync and validates through `zstd -dc` + tar-stream) and to a discard
//     sink with the same mutual TLS (sink.mjs): the gap between the two is the receiver's.

import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawn } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { URL, fileURLToPath } from 'node:url';
import { median, MB } from './table.mjs';
import { HOST_ID, measured } from './world.mjs';

const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('./zstd-probe.mjs', import.meta.url));

/** zstd library throughput (input MB/s) over `files`, `parallel` frames at once. */
export async function zstdLibrary(files, { level, parallel, maxMb = 256 }) {
  // 1 MiB frames: what the shipper packs with (src/queue/outbox.ts FRAME_BYTES).
  const { stdout } = await run(process.execPath, [PROBE, '--level', String(level), '--frame-mib', '1', '--parallel', String(parallel), '--max-mb', String(maxMb), ...files], { maxBuffer: 1 << 20 });
  const r = JSON.parse(stdout);
  return { mb_s: r.input_bytes / MB / r.s, ratio: r.input_bytes / r.output_bytes, input_bytes: r.input_bytes };
}

/** zstd command throughput (input MB/s) over `files`, output dropped. */
export async function zstdCommand(world, files, { level, threads, runs, inputBytes }) {
  const walls = [];
  for (let i = 0; i < runs; i++) {
    const r = await measured(['zstd', '-q', `-${level}`, `-T${threads}`, '-c', '--', ...files], join(world.logs, `zstd-cli-${i}.log`), process.env, { stdoutNull: true });
    walls.push(r.wall_s);
  }
  return { mb_s: inputBytes / MB / median(walls) };
}

/** `tar | zstd` of one episode into `out` (for the TLS figures). */
export async function makeArchive(parentDir, id, out, level) {
  const tar = spawn('tar', ['-C', parentDir, '-cf', '-', '--', id], { stdio: ['ignore', 'pipe', 'inherit'] });
  const z = spawn('zstd', ['-q', `-${level}`, '-T2', '-c'], { stdio: [tar.stdout, 'pipe', 'inherit'] });
  const file = createWriteStream(out);
  z.stdout.pipe(file);
  const exit = (c) => new Promise((res, rej) => c.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${c.spawnfile} exited ${code}`)))));
  await Promise.all([exit(tar), exit(z), finished(file)]);
  return (await stat(out)).size;
}

/** `curl -T archive` to `url` as episode `id`, `runs` times: median MB/s of archive bytes. */
export async function curlUpload(world, { url, id, archive, bytes, runs, name }) {
  const walls = [];
  for (let i = 0; i < runs; i++) {
    await world.clearStore();
    const argv = [
      'curl', '-sS', '--fail', '-o', '/dev/null',
      '--cacert', world.pki.ca.cert, '--cert', world.pki.client.cert, '--key', world.pki.client.key,
      '-H', `X-Shipper-Host: ${HOST_ID}`, '-T', archive, `${url}/v1/episodes/${id}`,
    ];
    const r = await measured(argv, join(world.logs, `${name}-${i}.log`));
    walls.push(r.wall_s);
  }
  await world.clearStore();
  return { mb_s: bytes / MB / median(walls), wall_s: median(walls) };
}
