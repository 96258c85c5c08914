// The contract between the uv-drain command and its preload.

/** Environment variable carrying the preload's configuration (JSON). */
export const ENV_CONFIG = 'UV_DRAIN_CLI';

export interface PreloadConfig {
  kind: 'why' | 'snapshot';
  /** Where to write reports: one JSON document per line. Absent: plain text on stderr. */
  fd?: number;
  afterMs?: number;
  /** Report once the program has idled this long while held open; 0: never. */
  idleMs: number;
  tracking: boolean;
}
