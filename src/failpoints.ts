// Neon-style failpoints, for crash tests only: off unless the process starts with
// SAFEKEEPER_TESTING_FAILPOINTS=1, then armed over HTTP (PUT /v1/failpoints). An armed point
// kills the process with SIGKILL when it is reached: the crash lands exactly there, at the
// moment a real power cut would hurt most. Unarmed, a point costs one Map size check.

export const FAILPOINT_NAMES = [
  /** Control file: the new contents are written and synced as .partial, the rename has not happened. */
  'control-file-before-rename',
  /** WAL: the previous segment is closed, the next one is about to be opened. */
  'wal-segment-switch',
  /** ProposerElected: the WAL is truncated, the new term history is not yet in the control file. */
  'elected-before-persist',
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export const failpointsEnabled = process.env.SAFEKEEPER_TESTING_FAILPOINTS === '1';

const armed = new Set<string>();

export function failpoint(name: FailpointName): void {
  if (armed.size !== 0 && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}

/** `exit` arms a point, `off` disarms it. Throws for unknown names or actions, or when disabled. */
export function configureFailpoint(name: string, action: string): void {
  if (!failpointsEnabled) throw new Error('failpoints are disabled (start with SAFEKEEPER_TESTING_FAILPOINTS=1)');
  if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) throw new Error(`unknown failpoint '${name}' (known: ${FAILPOINT_NAMES.join(', ')})`);
  if (action === 'exit') armed.add(name);
  else if (action === 'off') armed.delete(name);
  else throw new Error(`failpoint action must be 'exit' or 'off', got '${action}'`);
}
