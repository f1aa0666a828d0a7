import {
  conflictingOptions,
  resourcesOf,
  resourcesText,
  timeLimitSeconds
} from './resources';

describe('session resources', () => {
  it('shows resource options as a %%cluster line would, in usage order', () => {
    expect(
      resourcesText({
        time: '01:00:00',
        gpus: 1,
        cluster: 'gpu',
        detach: true,
        packages: ['numpy', 'scipy']
      })
    ).toBe('--gpus 1 --time 01:00:00 --packages numpy,scipy');
    expect(resourcesText({ cluster: 'x' })).toBe('');
  });

  it('keeps only the resource fields', () => {
    expect(
      resourcesOf({ cluster: 'a', gpus: 2, fresh: true, name: 'n' })
    ).toEqual({
      gpus: 2
    });
  });

  it('lets a later cell repeat or leave out options, never change them', () => {
    const session = { gpus: 1, time: '01:00:00' };
    expect(conflictingOptions(session, {})).toEqual([]);
    expect(conflictingOptions(session, { gpus: 1 })).toEqual([]);
    expect(conflictingOptions(session, { gpus: 2 })).toEqual(['--gpus']);
    expect(
      conflictingOptions(session, { mem: '4G', time: '02:00:00' })
    ).toEqual(['--mem', '--time']);
    expect(conflictingOptions({}, { cluster: 'other', name: 'x' })).toEqual([]);
  });

  it('reads SLURM time forms as seconds', () => {
    expect(timeLimitSeconds('30')).toBe(1800);
    expect(timeLimitSeconds('05:30')).toBe(330);
    expect(timeLimitSeconds('01:00:00')).toBe(3600);
    expect(timeLimitSeconds('1-02')).toBe(26 * 3600);
    expect(timeLimitSeconds('1-02:03:04')).toBe(26 * 3600 + 3 * 60 + 4);
    expect(() => timeLimitSeconds('soon')).toThrow('not a time limit');
  });
});
