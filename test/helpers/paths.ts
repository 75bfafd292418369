// Locates the repository root from a test file, so fixtures resolve the same way
// under tsx (test/unit) and compiled (dist/test/unit).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(fromUrl: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}

export function fixturesDir(): string {
  return path.join(repoRoot(), 'test', 'fixtures');
}

export function fixturePath(name: string): string {
  return path.join(fixturesDir(), name);
}
