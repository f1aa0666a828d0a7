import { execFileSync } from 'child_process';
import {
  assertJobDir,
  execLine,
  formatHms,
  formatMem,
  jobName,
  JobScriptError,
  parseMemMiB,
  parseTime,
  resolveResources,
  submitShell
} from './script';
import type { IJobSpec } from './types';

const base: IJobSpec = {
  id: 'cb-20261128-abc123',
  jobDir: '/home/u/.cluster-bridge/jobs/cb-20261128-abc123',
  command:
    "/home/u/.cluster-bridge/venv1/py3.11/bin/python -u agent.py run '/home/u/x'",
  request: {},
  defaults: {}
};

describe('parseTime', () => {
  it.each([
    ['30', 1800],
    ['5:30', 330],
    ['01:00:00', 3600],
    ['48:00:00', 172800],
    ['1-0', 86400],
    ['2-03', 2 * 86400 + 3 * 3600],
    ['1-02:30', 86400 + 2 * 3600 + 30 * 60],
    ['1-02:30:15', 86400 + 2 * 3600 + 30 * 60 + 15],
    ['0:05', 5]
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseTime(text)).toBe(seconds);
  });

  it.each(['', '1h', '1:2:3:4', '-1', 'a-1', '1-', '1:xx'])(
    'rejects %j',
    text => {
      expect(() => parseTime(text)).toThrow(JobScriptError);
    }
  );
});

describe('formatHms', () => {
  it('writes hours beyond a day and rounds seconds up', () => {
    expect(formatHms(0)).toBe('00:00:00');
    expect(formatHms(5)).toBe('00:00:05');
    expect(formatHms(3661.2)).toBe('01:01:02');
    expect(formatHms(172800)).toBe('48:00:00');
  });
});

describe('parseMemMiB / formatMem', () => {
  it.each([
    ['16G', 16384],
    ['16g', 16384],
    ['500M', 500],
    ['500MB', 500],
    ['1.5G', 1536],
    ['2T', 2 * 1024 * 1024],
    ['2048', 2048],
    ['2048K', 2],
    ['16GiB', 16384]
  ])('%s is %d MiB', (text, mib) => {
    expect(parseMemMiB(text)).toBe(mib);
  });

  it.each(['', 'lots', '16X', '-1G', '0', '0M'])('rejects %j', text => {
    expect(() => parseMemMiB(text)).toThrow(JobScriptError);
  });

  it('prefers whole gibibytes', () => {
    expect(formatMem(16384, { m: 'M', g: 'G' })).toBe('16G');
    expect(formatMem(1536, { m: 'mb', g: 'gb' })).toBe('1536mb');
  });
});

describe('jobName', () => {
  it.each([
    [undefined, 'cb-20261128-abc123'],
    ['train model', 'train_model'],
    ['1st-run', 'st-run'],
    ['ünïcode', 'n_code'],
    ['$(rm -rf /)', 'rm_-rf'],
    ['x'.repeat(100), 'x'.repeat(64)],
    ['___', 'cb-20261128-abc123']
  ])('%j -> %s', (requested, expected) => {
    expect(jobName(requested, 'cb-20261128-abc123')).toBe(expected);
  });
});

describe('resolveResources', () => {
  it('takes the request over the defaults, field by field', () => {
    const res = resolveResources({
      ...base,
      request: { partition: 'gpu', gpus: 0, time: '10' },
      defaults: {
        partition: 'cpu',
        account: 'proj1',
        gpus: 2,
        time: '01:00:00',
        mem: '4G',
        gpuFlag: 'gpus',
        directives: ['#SBATCH --exclusive'],
        setup: ['module load cuda/12.4']
      }
    });
    expect(res).toEqual({
      name: 'cb-20261128-abc123',
      partition: 'gpu',
      account: 'proj1',
      qos: undefined,
      constraint: undefined,
      time: '10',
      timeSeconds: 600,
      memMiB: 4096,
      cpus: undefined,
      gpus: 0,
      gpuFlag: 'gpus',
      directives: ['#SBATCH --exclusive'],
      setup: ['module load cuda/12.4']
    });
  });

  it.each([
    [{ partition: 'gpu\n#SBATCH --uid=0' }, /invalid partition/],
    [{ partition: 'a b' }, /invalid partition/],
    [{ account: "x'y" }, /invalid account/],
    [{ qos: '$(id)' }, /invalid qos/],
    [{ constraint: 'a;b' }, /invalid constraint/],
    [{ cpus: 0 }, /invalid cpus/],
    [{ gpus: 1.5 }, /invalid gpus/],
    [{ time: '1 hour' }, /invalid time/],
    [{ mem: 'lots' }, /invalid memory/]
  ])('refuses %j', (request, message) => {
    expect(() => resolveResources({ ...base, request })).toThrow(message);
  });

  it('refuses multi-line directives and setup lines from the config', () => {
    expect(() =>
      resolveResources({
        ...base,
        defaults: { directives: ['#SBATCH -x\necho hi'] }
      })
    ).toThrow(/one line each/);
    expect(() =>
      resolveResources({ ...base, defaults: { setup: ['a\nb'] } })
    ).toThrow(/one line each/);
  });
});

describe('submitShell', () => {
  it('writes the script from stdin, submits, and removes the job dir on rejection', () => {
    expect(submitShell(base, 'sbatch job.sh')).toBe(
      'umask 077 && cat > /home/u/.cluster-bridge/jobs/cb-20261128-abc123/job.sh' +
        ' && chmod 700 /home/u/.cluster-bridge/jobs/cb-20261128-abc123/job.sh && sbatch job.sh' +
        ' || { rc=$?; rm -rf -- /home/u/.cluster-bridge/jobs/cb-20261128-abc123; exit $rc; }'
    );
  });

  it('quotes a job dir with spaces and quotes', () => {
    const spec = { ...base, jobDir: "/home/o'neil x/.cb/jobs/cb-1" };
    expect(submitShell(spec, 'true')).toContain(
      `rm -rf -- '/home/o'\\''neil x/.cb/jobs/cb-1'`
    );
  });

  it.each(['relative/jobs/x', '/', '/home/u', '/home/u/jobs/../etc', '/jobs/'])(
    'refuses to delete %j',
    dir => {
      expect(() => assertJobDir(dir)).toThrow(JobScriptError);
    }
  );
});

describe('execLine', () => {
  it('execs a plain command, and one with assignments through env', () => {
    expect(execLine("/venv/bin/python -u 'a b.py' run /x")).toBe(
      "exec /venv/bin/python -u 'a b.py' run /x"
    );
    expect(
      execLine("PYTHONDONTWRITEBYTECODE= A='x y' /venv/bin/python -u run")
    ).toBe("exec env PYTHONDONTWRITEBYTECODE= A='x y' /venv/bin/python -u run");
  });

  it('really runs such a command under /bin/sh', () => {
    const out = execFileSync(
      '/bin/sh',
      ['-c', execLine("CB_A= CB_B='x y' sh -c 'echo \"[$CB_A][$CB_B]\"'")],
      {
        encoding: 'utf8'
      }
    );
    expect(out).toBe('[][x y]\n');
  });
});
