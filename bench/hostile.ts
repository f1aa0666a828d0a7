/**
 * bench/hostile.ts: the hostile-strings figure. Every string of
 * tests/support/hostile.ts (command substitution, quotes, separators,
 * newlines, NUL, unicode, leading dashes, 100 kB) through every path that
 * turns user text into shell text, each run in a real /bin/sh: how many were
 * tried, and how many reached a shell unquoted (goal 0). The unit spec
 * src/bridge/schedulers/hostile.spec.ts asserts the same.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/hostile.js
 */
import { hostileStrings, runHostileProbes } from '../tests/support/hostile';
import { writeResult } from './support';

function main(): void {
  const probes = runHostileProbes();
  const count = (outcome: string, of = probes) =>
    of.filter(p => p.outcome === outcome).length;
  const paths = [...new Set(probes.map(p => p.path))];
  const rows = paths.map(name => {
    const mine = probes.filter(p => p.path === name);
    return `| ${name} | ${mine.length} | ${count('rejected', mine)} | ${count('verbatim', mine)} | ${count('sanitized', mine)} | ${count('unquoted', mine)} |`;
  });
  console.log(
    [
      `${hostileStrings('c').length} hostile strings x ${paths.length} paths, each run in /bin/sh`,
      '',
      '| path | tried | refused | arrived exactly | made safe | reached a shell unquoted |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
      `| **all** | ${probes.length} | ${count('rejected')} | ${count('verbatim')} | ${count('sanitized')} | ${count('unquoted')} |`
    ].join('\n')
  );
  const unquoted = probes.filter(p => p.outcome === 'unquoted');
  writeResult('hostile', {
    tried: probes.length,
    unquoted: unquoted.length,
    refused: count('rejected'),
    verbatim: count('verbatim'),
    sanitized: count('sanitized'),
    failures: unquoted
  });
  if (unquoted.length > 0) {
    process.exitCode = 1;
  }
}

main();
