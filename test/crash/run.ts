// `npm run crash-test -- --trials N [--seed S]`: the kill -9 campaign of campaign.ts, printed.

import { runCampaign } from './campaign.js';

const args = process.argv.slice(2);
const get = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const trials = Number(get('--trials') ?? 20);
const seed = Number(get('--seed') ?? Math.floor(Math.random() * 2 ** 31));
console.log(`crash-test: seed ${seed} (replay with --seed ${seed})`);
const r = await runCampaign({ trials, seed, log: (l) => console.log(l) });
for (const f of r.failures) console.log(`FAILURE ${f}`);
console.log(`kill modes: ${JSON.stringify(r.modes)}`);
console.log(`crash-test: ${r.trials} trials, ${r.failures.length} failures`);
process.exit(r.failures.length > 0 ? 1 : 0);
