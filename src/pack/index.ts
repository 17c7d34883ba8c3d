// The packer: an episode folder → a deterministic tar of independent zstd frames.
// Format: docs/archive.md. Place in the folder state machine: docs/design.md.
export { packEpisode, type PackOptions, type PackResult } from './pack.js';
export { fingerprintEpisode } from './fingerprint.js';
