// Worker for data.mjs: writes one generated file (or one folder of small files) per job.

import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { prng } from './prng.mjs';

const SENSORS = ['imu', 'lidar', 'cam-left', 'cam-right', 'gps', 'wheel-odom', 'battery', 'temp'];

/** About `want` bytes of JSON lines (whole lines). */
function jsonlBlock(rnd, state, want) {
  const lines = [];
  let n = 0;
  while (n < want) {
    state.t += Math.floor(rnd() * 20);
    const line =
      `{"t":${state.t},"sensor":"${SENSORS[Math.floor(rnd() * SENSORS.length)]}","seq":${state.seq++},` +
      `"x":${(rnd() * 200 - 100).toFixed(6)},"y":${(rnd() * 200 - 100).toFixed(6)},` +
      `"z":${(rnd() * 10).toFixed(4)},"ok":${rnd() > 0.01}}\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join(''), 'latin1');
}

function writeJsonl(job) {
  const rnd = prng(job.seed);
  const state = { t: 1_700_000_000_000 + job.seed * 1e7, seq: 0 };
  const fd = openSync(job.path, 'w');
  try {
    let left = job.bytes;
    while (left > 0) {
      const block = jsonlBlock(rnd, state, Math.min(left, 1 << 20));
      const piece = block.length > left ? block.subarray(0, left) : block;
      writeSync(fd, piece);
      left -= piece.length;
    }
  } finally {
    closeSync(fd);
  }
}

function writeRandom(job) {
  const rnd = prng(job.seed);
  const fd = openSync(job.path, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  try {
    let left = job.bytes;
    while (left > 0) {
      for (let i = 0; i < words.length; i++) words[i] = (rnd() * 0x100000000) >>> 0;
      const n = Math.min(left, buf.length);
      writeSync(fd, buf, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

function writeSmall(job) {
  const rnd = prng(job.seed);
  const state = { t: 1_700_000_000_000 + job.seed * 1e5, seq: 0 };
  for (let i = 0; i < job.count; i++) {
    const block = jsonlBlock(rnd, state, job.bytes);
    const fd = openSync(join(job.path, `f${String(i).padStart(4, '0')}.jsonl`), 'w');
    try {
      writeSync(fd, block, 0, job.bytes);
    } finally {
      closeSync(fd);
    }
  }
}

parentPort.on('message', (job) => {
  try {
    if (job.kind === 'jsonl') writeJsonl(job);
    else if (job.kind === 'random') writeRandom(job);
    else if (job.kind === 'small') writeSmall(job);
    else throw new Error(`unknown job kind ${job.kind}`);
    parentPort.postMessage({ ok: true });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
