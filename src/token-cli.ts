#!/usr/bin/env node
// `safekeeper-token`: an Ed25519 key pair for the --*-auth-public-key-path flags, and tokens signed
// with it, for local use and tests. In a real deployment the control plane holds the private key.

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, parseDuration } from './config.js';
import { SCOPES, mintJwt } from './auth/jwt.js';
import { writeKeyPair } from './auth/keys.js';
import { longFlags } from './cli-args.js';

const USAGE = `usage:
  safekeeper-token keygen DIR
      writes DIR/auth_private_key.pem (mode 0600) and DIR/auth_public_key.pem; pass the public one
      (or DIR holding only public keys) to --pg-auth-public-key-path / --http-auth-public-key-path
  safekeeper-token mint --private-key FILE --scope SCOPE [--tenant-id HEX32] [--ttl DURATION]
      prints a token; SCOPE is one of ${SCOPES.join(', ')}
      (a safekeeper accepts safekeeperdata, and tenant with --tenant-id); --ttl sets exp (e.g. 1h)`;

function mint(args: string[]): string {
  let v: Map<string, string>;
  try {
    v = longFlags(args, ['private-key', 'scope', 'tenant-id', 'ttl']);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const keyFile = v.get('private-key');
  const scope = v.get('scope');
  if (!keyFile || !scope) throw new ConfigError('--private-key and --scope are required');
  if (!(SCOPES as readonly string[]).includes(scope)) throw new ConfigError(`unknown scope '${scope}'`);
  const tenant = v.get('tenant-id');
  if (tenant !== undefined && !/^[0-9a-fA-F]{32}$/.test(tenant)) throw new ConfigError('--tenant-id must be 32 hex characters');
  if (scope === 'tenant' && tenant === undefined) throw new ConfigError('a tenant token needs --tenant-id');
  const ttl = v.get('ttl');
  const claims: { scope: string; tenant_id?: string; exp?: number } = { scope };
  if (tenant !== undefined) claims.tenant_id = tenant.toLowerCase();
  if (ttl !== undefined) claims.exp = Math.floor(Date.now() / 1000) + Math.ceil(parseDuration(ttl, '--ttl') / 1000);
  return mintJwt(claims, createPrivateKey(readFileSync(keyFile)));
}

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'keygen' && rest.length === 1) {
      const { privateKey, publicKey } = writeKeyPair(rest[0]!);
      console.log(`private key: ${privateKey}\npublic key:  ${publicKey}`);
      return 0;
    }
    if (cmd === 'mint') {
      console.log(mint(rest));
      return 0;
    }
    if (cmd === '-h' || cmd === '--help') {
      console.log(USAGE);
      return 0;
    }
  } catch (err) {
    console.error(`safekeeper-token: ${(err as Error).message}`);
    return err instanceof ConfigError ? 2 : 1;
  }
  console.error(USAGE);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
