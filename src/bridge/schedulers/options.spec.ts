import {
  checkSchedulerOptions,
  honouredRequest,
  RESOURCE_OPTIONS,
  unhonoured,
  UnsupportedOptionError
} from './options';

describe('checkSchedulerOptions', () => {
  it('refuses queue options on a direct host before anything runs', () => {
    for (const option of ['partition', 'account', 'qos', 'constraint']) {
      expect(() => checkSchedulerOptions('direct', { [option]: 'x' })).toThrow(
        new RegExp(
          `^an option that a direct host cannot honour.*--${option}: a direct host has no scheduler`
        )
      );
    }
  });

  it('lets a direct host take --gpus, --cpus, --mem and --time (the agent enforces them)', () => {
    expect(() =>
      checkSchedulerOptions('direct', {
        gpus: 1,
        cpus: 2,
        mem: '1G',
        time: '00:30:00'
      })
    ).not.toThrow();
  });

  it('names every unhonoured option at once, as a UsageError', () => {
    let error: unknown;
    try {
      checkSchedulerOptions('direct', { partition: 'gpu', qos: 'high' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnsupportedOptionError);
    expect((error as Error).name).toBe('UsageError');
    expect((error as Error).message).toMatch(/--partition: .*; --qos: /);
  });

  it('refuses --qos where the scheduler has no QOS', () => {
    expect(() => checkSchedulerOptions('sge', { qos: 'high' })).toThrow(
      /--qos: Grid Engine has no QOS/
    );
    expect(() => checkSchedulerOptions('pbs', { qos: 'high' })).toThrow(
      /--qos: PBS has no QOS/
    );
    expect(() => checkSchedulerOptions('slurm', { qos: 'high' })).not.toThrow();
  });

  it("checks the cluster's defaults only against the scheduler they were written for", () => {
    expect(() =>
      checkSchedulerOptions('sge', {}, { qos: 'high' }, 'sge')
    ).toThrow(/cluster's defaults set qos/);
    // A slurm cluster's partition default does not stop `--scheduler direct`.
    expect(() =>
      checkSchedulerOptions('direct', {}, { partition: 'gpu' }, 'slurm')
    ).not.toThrow();
    expect(() =>
      checkSchedulerOptions('direct', {}, { partition: 'gpu' })
    ).toThrow(/cluster's defaults set partition/);
  });

  it('SLURM honours every option', () => {
    expect(RESOURCE_OPTIONS.filter(o => unhonoured('slurm', o))).toEqual([]);
  });
});

describe('honouredRequest', () => {
  it("fills a direct host's resource defaults into the request the agent enforces", () => {
    const request = honouredRequest(
      'direct',
      { gpus: 2 },
      { type: 'ssh', defaults: { gpus: 1, time: '01:00:00', mem: '4G' } }
    );
    expect(request).toEqual({ gpus: 2, time: '01:00:00', mem: '4G' });
  });

  it('leaves batch requests alone (their scripts merge the defaults)', () => {
    const request = { cpus: 2 };
    expect(
      honouredRequest('slurm', request, {
        type: 'ssh',
        scheduler: 'slurm',
        defaults: { time: '01:00:00' }
      })
    ).toBe(request);
  });

  it('throws the usage error first', () => {
    expect(() =>
      honouredRequest('direct', { partition: 'gpu' }, { type: 'ssh' })
    ).toThrow(UnsupportedOptionError);
  });
});
