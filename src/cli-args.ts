// `--name value` / `--name=value` arguments of the small helper commands (safekeeper-push,
// safekeeper-token). The safekeeper itself takes Neon's flag table (config.ts).

/** Values by name (without `--`); throws on anything else, or on a name outside `allowed`. */
export function longFlags(argv: readonly string[], allowed?: readonly string[]): Map<string, string> {
  const v = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [k, val] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, argv[i + 1]];
    if (eq <= 0) i++;
    const name = k.slice(2);
    if (!k.startsWith('--') || val === undefined || (allowed && !allowed.includes(name))) throw new Error(`bad argument '${a}'`);
    v.set(name, val);
  }
  return v;
}
