// The public keys a listener checks tokens with: one PEM file, or every file of a directory (not
// recursing), as Neon's JwtAuth::from_key_path; only Ed25519 keys are accepted.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export function loadPublicKeys(keyPath: string): KeyObject[] {
  const st = statSync(keyPath);
  let files: string[];
  if (st.isDirectory()) {
    files = readdirSync(keyPath)
      .sort()
      .map((name) => path.join(keyPath, name))
      .filter((p) => statSync(p).isFile());
  } else if (st.isFile()) {
    files = [keyPath];
  } else {
    throw new Error(`${keyPath}: path is neither a directory or a file`);
  }
  const keys = files.map((f) => {
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(f));
    } catch (e) {
      throw new Error(`${f}: not a PEM public key (${(e as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${f}: a ${key.asymmetricKeyType} key; only Ed25519 keys are accepted`);
    return key;
  });
  if (keys.length === 0) {
    throw new Error(`${keyPath}: Configured for JWT auth with zero decoding keys. All JWT gated requests would be rejected.`);
  }
  return keys;
}
