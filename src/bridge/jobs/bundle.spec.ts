import { envHash, envSpecFor, isJobId, newJobId } from './bundle';

describe('bundle', () => {
  const cluster = {
    name: 'c',
    source: 'file' as const,
    config: {
      type: 'ssh' as const,
      env: { pip: ['numpy'] },
      envs: { torch: { conda: ['pytorch'] } }
    }
  };

  it('picks the default env, a named env, and adds --packages as pip packages', () => {
    expect(envSpecFor(cluster, {})).toEqual({ pip: ['numpy'] });
    expect(envSpecFor(cluster, { env: 'torch', packages: ['rich'] })).toEqual({
      conda: ['pytorch'],
      pip: ['rich']
    });
    expect(envSpecFor(cluster, { packages: ['numpy', 'rich'] })).toEqual({
      pip: ['numpy', 'rich']
    });
    expect(() => envSpecFor(cluster, { env: 'nope' })).toThrow(
      /no env "nope"\. Known envs: torch/
    );
  });

  it('hashes specs stably', () => {
    expect(envHash({ pip: ['a'], manager: 'auto' })).toBe(
      envHash({ pip: ['a'] })
    );
    expect(envHash({ pip: ['a'] })).not.toBe(envHash({ pip: ['b'] }));
  });

  it('makes safe unique job ids', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newJobId()));
    expect(ids.size).toBe(100);
    expect([...ids].every(isJobId)).toBe(true);
    expect(isJobId('../etc')).toBe(false);
  });
});
