// Randomness as a seam: the real source by default; the simulation passes a
// seeded one so the same seed names the same temp files and proposer ids.

import { randomBytes } from 'node:crypto';

export type RandomBytes = (n: number) => Buffer;

export const cryptoRandomBytes: RandomBytes = (n) => randomBytes(n);
