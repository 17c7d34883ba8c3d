#!/usr/bin/env node
// zstd frames are compressed on libuv's thread pool, which also serves file reads: size it
// to the cores plus room for I/O before anything uses it (an operator's setting wins).
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 2));
// undici parses HTTP with llhttp compiled to WebAssembly. V8 would also compile it a
// second time with its optimising tier on a background thread: ~35 MB of compiler memory
// and ~100 ms of CPU, to speed up parsing a handful of small responses. The baseline tier
// is plenty, and peak memory stays flat (docs/performance.md). Set before undici loads.
setFlagsFromString('--liftoff-only');
await import('../dist/cli/main.js');
