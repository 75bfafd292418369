// The public keys a listener checks tokens with: one PEM file, or every file of a directory (not
// recursing), as Neon's JwtAuth::from_key_path; only Ed25519 keys are accepted. And a key pair for
// local use (safekeeper-token keygen, the demo, tests), under neon_local's file names.

import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

export const PRIVATE_KEY_FILE = 'auth_private_key.pem';
export const PUBLIC_KEY_FILE = 'auth_public_key.pem';

/** Writes a fresh Ed25519 key pair into `dir` (the private key mode 0600); returns the two paths. */
export function writeKeyPair(dir: string): { privateKey: string; publicKey: string } {
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const priv = path.join(dir, PRIVATE_KEY_FILE);
  const pub = path.join(dir, PUBLIC_KEY_FILE);
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKey: priv, publicKey: pub };
}
