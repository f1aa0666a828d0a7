import {
  parseQacct,
  parseQstatJ,
  parseQstatXml,
  qacctState,
  SgeScheduler,
  sgeState
} from './sge';
import { SchedulerError, type IJobSpec } from './types';
import {
  asTransport,
  fixtureReader,
  jobSpec,
  ScriptedTransport
} from '../../../tests/support/schedulers';

const fixture = fixtureReader('sge');
/** Job ids of the recorded qacct fixtures (tests/fixtures/record-schedulers.sh sge). */
const ACCT = Object.fromEntries(
  fixture('qacct-ids.txt')
    .trim()
    .split(' ')
    .map(kv => kv.split('='))
) as { ok: string; failed: string; timeout: string; deleted: string };

describe('SgeScheduler.script', () => {
  const sge = new SgeScheduler();
  const cases: [string, Partial<IJobSpec>][] = [
    ['no options', {}],
    [
      'every option',
      {
        request: {
          partition: 'gpu.q',
          account: 'proj42',
          time: '01:30:00',
          mem: '16G',
          cpus: 4,
          gpus: 2,
          constraint: 'arch=lx-amd64',
          name: '7 runs'
        }
      }
    ],
    [
      'cluster defaults with directives and setup',
      {
        defaults: {
          time: '2-00',
          mem: '500M',
          directives: ['#$ -P myproject'],
          setup: ['module load cuda/12.4']
        }
      }
    ]
  ];

  it.each(cases)('%s', (_name, over) => {
    expect(sge.script(jobSpec(over))).toMatchSnapshot();
  });

  it('writes Grid Engine directives: h_rt, per-slot h_vmem, pe, gpu complex', () => {
    const lines = sge.script(jobSpec(cases[1][1])).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '#$ -N runs',
        '#$ -S /bin/bash',
        '#$ -notify',
        '#$ -q gpu.q',
        '#$ -A proj42',
        '#$ -l h_rt=01:30:00',
        '#$ -pe smp 4',
        '#$ -l h_vmem=4G',
        '#$ -l gpu=2',
        '#$ -l arch=lx-amd64'
      ])
    );
  });

  it('refuses --qos (Grid Engine has none) instead of dropping it', () => {
    expect(() => sge.script(jobSpec({ request: { qos: 'high' } }))).toThrow(
      /qos high: Grid Engine has no QOS/
    );
  });

  it('uses the parallel environment it was given', () => {
    expect(
      new SgeScheduler('mpi').script(jobSpec({ request: { cpus: 2 } }))
    ).toContain('#$ -pe mpi 2');
  });

  it('explains the submit command: -terse, -w e, logs in the job dir', () => {
    expect(new SgeScheduler().explain(jobSpec()).command).toBe(
      'cd /home/alice/.cluster-bridge/jobs/cb-20261128-abc123 && qsub -terse -w e' +
        ' -wd /home/alice/.cluster-bridge/jobs/cb-20261128-abc123' +
        ' -o /home/alice/.cluster-bridge/jobs/cb-20261128-abc123/scheduler.out' +
        ' -e /home/alice/.cluster-bridge/jobs/cb-20261128-abc123/scheduler.err job.sh'
    );
  });
});

describe('SgeScheduler.submit', () => {
  it.each([
    ['19\n', '19'],
    ['19.1-10:1\n', '19'],
    [
      fixture('qsub-plain.txt'),
      fixture('qsub-plain.txt').match(/job (\d+)/)![1]
    ]
  ])('reads the job id from %j', async (stdout, id) => {
    const t = new ScriptedTransport([[/qsub/, { stdout }]]);
    await expect(
      new SgeScheduler().submit(asTransport(t), jobSpec())
    ).resolves.toEqual({ schedulerId: id });
  });

  it.each([
    ['qsub-invalid-queue.txt', /unknown queue "nosuch.q"/],
    ['qsub-too-many-gpus.txt', /no suitable queues/]
  ])("rejects with qsub's own words (%s)", async (file, message) => {
    const t = new ScriptedTransport([
      [/qsub/, { stderr: fixture(file), code: 1 }]
    ]);
    const err = await new SgeScheduler()
      .submit(asTransport(t), jobSpec())
      .catch(e => e);
    expect(err).toBeInstanceOf(SchedulerError);
    expect(err.message).toMatch(message);
  });
});

describe('Grid Engine state parsing (recorded from the test cluster)', () => {
  const header = fixture('qstat.xml.txt').split('\n')[0];
  const ids = Object.fromEntries(
    header
      .replace(/^# ids: /, '')
      .split(' ')
      .map(kv => kv.split('='))
  ) as { [k: string]: string };

  it('reads qstat -xml: running, pending, held, zombie', () => {
    const jobs = parseQstatXml(fixture('qstat.xml.txt'));
    expect(jobs.get(ids.running)).toMatchObject({
      state: 'r',
      queue: 'all.q@vm'
    });
    expect(jobs.get(ids.pending)).toMatchObject({ state: 'qw' });
    expect(jobs.get(ids.held)).toMatchObject({ state: 'hqw' });
    expect(jobs.get(ids.ok)).toMatchObject({ state: 'z' });
  });

  it("reads the scheduler's reason from qstat -j", () => {
    const details = parseQstatJ(fixture('qstat-j.txt'));
    expect(details.get(ids.pending)?.scheduling).toEqual([
      '(-l gpu=1) cannot run at host "vm" because it offers only hc:gpu=0.000000'
    ]);
    expect(details.get(ids.held)?.scheduling).toEqual(['Job is in hold state']);
    expect(details.get(ids.running)?.scheduling).toEqual([]);
  });

  it('maps qstat states', () => {
    const jobs = parseQstatXml(fixture('qstat.xml.txt'));
    const details = parseQstatJ(fixture('qstat-j.txt'));
    expect(sgeState(jobs.get(ids.running)!, details.get(ids.running))).toEqual({
      state: 'running',
      node: 'vm'
    });
    expect(sgeState(jobs.get(ids.pending)!, details.get(ids.pending))).toEqual({
      state: 'pending',
      reason:
        '(-l gpu=1) cannot run at host "vm" because it offers only hc:gpu=0.000000'
    });
    expect(sgeState(jobs.get(ids.held)!, details.get(ids.held))).toEqual({
      state: 'pending',
      reason: 'held, Job is in hold state'
    });
    expect(
      sgeState(
        { id: '1', state: 'Eqw' },
        { scheduling: [], error: 'can not chdir' }
      )
    ).toEqual({
      state: 'ended',
      end: 'failed',
      reason: 'Grid Engine error state (Eqw): can not chdir'
    });
    expect(sgeState({ id: '1', state: 'dr', queue: 'q@n7' })).toEqual({
      state: 'running',
      node: 'n7'
    });
    expect(sgeState({ id: '1', state: 'S' })).toEqual({
      state: 'pending',
      reason: 'suspended'
    });
  });

  it('maps accounting records: completed, failed, h_rt timeout, qdel', () => {
    const state = (id: string) =>
      qacctState(parseQacct(fixture(`qacct-${id}.txt`))!);
    expect(state(ACCT.ok)).toEqual({
      state: 'ended',
      end: 'completed',
      exitCode: 0
    });
    expect(state(ACCT.failed)).toEqual({
      state: 'ended',
      end: 'failed',
      exitCode: 3,
      reason: 'exit code 3'
    });
    expect(state(ACCT.timeout)).toEqual({
      state: 'ended',
      end: 'timeout',
      exitCode: 137,
      reason: 'time limit h_rt=00:00:03 reached'
    });
    expect(state(ACCT.deleted)).toEqual({
      state: 'ended',
      end: 'cancelled',
      exitCode: 137,
      reason: 'deleted (qdel) or killed'
    });
    expect(parseQacct(fixture('qacct-unknown.txt'))).toBeNull();
  });

  it('maps other accounting records', () => {
    const rec = (fields: { [k: string]: string }) => ({
      jobnumber: '1',
      ...fields
    });
    expect(
      qacctState(
        rec({
          failed: '37  : qmaster enforced h_rt, h_cpu, or h_vmem limit',
          exit_status: '137',
          category: '-l h_vmem=1G',
          ru_wallclock: '3s'
        })
      )
    ).toMatchObject({ end: 'out_of_memory' });
    expect(
      qacctState(
        rec({ failed: '19  : before writing exit_status', exit_status: '0' })
      )
    ).toMatchObject({ end: 'node_fail' });
    expect(
      qacctState(
        rec({ failed: '26  : opening input/output file', exit_status: '0' })
      )
    ).toMatchObject({
      end: 'failed',
      reason: 'failed 26: opening input/output file'
    });
    expect(qacctState(rec({ failed: '0', exit_status: '139' }))).toMatchObject({
      end: 'failed',
      reason: 'killed by signal 11 (SIGSEGV)'
    });
  });
});

describe('SgeScheduler.states', () => {
  const xml = fixture('qstat.xml.txt').split('\n').slice(1).join('\n');
  const jobsSection = fixture('qstat-j.txt');

  it('asks once for running and pending jobs, once more for finished ones, then never again', async () => {
    const acct = `@@CB acct-${ACCT.ok}@@\n${fixture(`qacct-${ACCT.ok}.txt`)}`;
    const t = new ScriptedTransport([
      [
        /^qstat -u/,
        { stdout: `${xml}\n@@CB jobs@@\n${jobsSection}\n@@CB rc@@\n0\n` }
      ],
      [/qacct/, { stdout: acct }]
    ]);
    const sge = new SgeScheduler();
    const header = fixture('qstat.xml.txt').split('\n')[0];
    const running = /running=(\d+)/.exec(header)![1];
    const pending = /pending=(\d+)/.exec(header)![1];
    const states = await sge.states(asTransport(t), [
      running,
      pending,
      ACCT.ok
    ]);
    expect(states.get(running)).toEqual({ state: 'running', node: 'vm' });
    expect(states.get(pending)).toMatchObject({ state: 'pending' });
    expect(states.get(ACCT.ok)).toEqual({
      state: 'ended',
      end: 'completed',
      exitCode: 0
    });
    expect(t.commands).toHaveLength(2);
    expect(t.commands[0].command).toContain(
      `qstat -j ${running},${pending},${ACCT.ok} 2>&1`
    );
    expect(t.commands[1].command).toBe(
      `echo '@@CB acct-${ACCT.ok}@@'\nqacct -j ${ACCT.ok} 2>&1`
    );
    await sge.states(asTransport(t), [running, ACCT.ok]);
    expect(t.commands).toHaveLength(3);
    expect(t.commands[2].command).toContain(`qstat -j ${running} 2>&1`);
  });

  it('says unknown while accounting has no record yet', async () => {
    const t = new ScriptedTransport([
      [/^qstat -u/, { stdout: `${xml}\n@@CB jobs@@\n@@CB rc@@\n0\n` }],
      [
        /qacct/,
        { stdout: '@@CB acct-99999@@\nerror: job id 99999 not found\n' }
      ]
    ]);
    const states = await new SgeScheduler().states(asTransport(t), ['99999']);
    expect(states.get('99999')).toEqual({ state: 'unknown' });
  });

  it("fails with qstat's words when the qmaster is down", async () => {
    const t = new ScriptedTransport([
      [
        /^qstat -u/,
        {
          stdout:
            'error: commlib error: got select error (Connection refused)\nerror: unable to send message to qmaster using port 6444 on host "vm": got send error\n@@CB jobs@@\n@@CB rc@@\n1\n'
        }
      ]
    ]);
    await expect(
      new SgeScheduler().states(asTransport(t), ['1'])
    ).rejects.toThrow(/unable to send message to qmaster/);
  });
});

describe('SgeScheduler.cancel', () => {
  it('runs qdel and tolerates a job that is gone', async () => {
    const t = new ScriptedTransport([
      [/qdel 6$/, { stdout: 'denied: job "6" does not exist\n', code: 1 }]
    ]);
    await new SgeScheduler().cancel(asTransport(t), '6', '/x/jobs/a');
    expect(t.commands[0].command).toBe('qdel 6');
    await expect(
      new SgeScheduler().cancel(asTransport(t), '6 7', '/x/jobs/a')
    ).rejects.toThrow(/not a Grid Engine job id/);
  });
});
