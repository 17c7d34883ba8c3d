#!/usr/bin/env node
// zstd frames are compressed on libuv's thread pool, which also serves file reads: size it
// to the cores plus room for I/O before anything uses it (an operator's setting wins).
import { availableParallelism } from 'node:os';

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 2));
await import('../dist/cli/main.js');
