import { envHash, envSpecFor, isJobId, makeBundle, newJobId } from './bundle';

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

  it("gives an env that names no manager the cluster's envKind; --env venv/conda picks the kind", () => {
    const venvCluster = {
      ...cluster,
      config: { ...cluster.config, envKind: 'venv' as const }
    };
    expect(envSpecFor(venvCluster, {})).toEqual({
      pip: ['numpy'],
      manager: 'venv'
    });
    expect(envSpecFor(cluster, {}).manager).toBeUndefined();
    expect(envSpecFor(cluster, { env: 'conda' })).toEqual({
      pip: ['numpy'],
      manager: 'conda'
    });
    expect(envSpecFor(venvCluster, { env: 'conda' }).manager).toBe('conda');
    const named = {
      ...cluster,
      config: { ...cluster.config, envs: { venv: { pip: ['x'] } } }
    };
    expect(envSpecFor(named, { env: 'venv' })).toEqual({ pip: ['x'] });
    expect(() => envSpecFor(cluster, { env: 'nope' })).toThrow(
      /--env venv or --env conda/
    );
  });

  it("carries the cluster's retention to the agent", () => {
    const base = {
      jobId: 'cb-x-1',
      code: '1',
      lineOffset: 1,
      request: {},
      workDir: '/w'
    };
    expect(makeBundle({ ...base, cluster }).retention).toBeUndefined();
    const off = {
      ...cluster,
      config: { ...cluster.config, retention: false as const }
    };
    expect(makeBundle({ ...base, cluster: off }).retention).toBe(false);
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
