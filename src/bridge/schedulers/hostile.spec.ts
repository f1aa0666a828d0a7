/**
 * Hostile strings (command substitution, quotes, separators, newlines, NUL,
 * unicode, leading dashes, very long) through the quoting, the magic parser
 * and the batch job scripts and submit commands, each run in a real /bin/sh:
 * none may run as shell code (bench/hostile.ts prints the same as figures).
 */
import {
  hostileStrings,
  runHostileProbes
} from '../../../tests/support/hostile';

describe('hostile strings', () => {
  const probes = runHostileProbes();

  it('never reach a shell unquoted', () => {
    const unquoted = probes
      .filter(p => p.outcome === 'unquoted')
      .map(p => `${p.path} / ${p.label}: ${p.detail}`);
    expect(unquoted).toEqual([]);
  });

  it('are each refused or arrive exactly, on every path', () => {
    const paths = new Set(probes.map(p => p.path));
    expect(probes).toHaveLength(paths.size * hostileStrings('c').length);
    // Plain data must come through the quoting unchanged, not be refused.
    for (const p of probes.filter(x => x.path.startsWith('shellQuote'))) {
      expect([p.label, p.outcome]).toEqual([
        p.label,
        p.label === 'NUL' ? 'rejected' : 'verbatim'
      ]);
    }
    // Notebook metadata holds a plain cluster name or is refused as a whole.
    expect(
      probes
        .filter(p => p.path === 'cluster name (notebook metadata)')
        .filter(p => p.outcome !== 'rejected')
        .map(p => p.label)
    ).toEqual([]);
  });
});
