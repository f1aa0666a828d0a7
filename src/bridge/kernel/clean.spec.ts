import type { IResolvedCluster } from '../../shared/config';
import { cleanReport, createClean, type ICleanReport } from './clean';

const cluster: IResolvedCluster = {
  name: 'gpu',
  source: 'file',
  config: { type: 'ssh', host: 'h', retention: { jobsDays: 3 } }
};

const report = (dryRun: boolean): ICleanReport => ({
  workDir: '/home/u/.cluster-bridge',
  dryRun,
  retention: { jobsDays: 3, runtimesDays: 7, envsDays: 30 },
  remove: [
    {
      kind: 'jobs',
      name: 'cb-old-1',
      bytes: 2 * 2 ** 20,
      ageDays: 9,
      why: 'ended (completed), last written 9.0 days ago',
      removed: !dryRun
    },
    {
      kind: 'envs',
      name: 'a1b2c3',
      bytes: 3 * 2 ** 30,
      ageDays: 40,
      why: 'not used for 40.0 days',
      removed: false,
      error: 'being built'
    }
  ],
  keep: [
    {
      kind: 'jobs',
      name: 'cb-run',
      bytes: 1024,
      ageDays: 1,
      why: 'pid 7 is alive'
    }
  ],
  sizes: {},
  freed: dryRun ? 0 : 2 * 2 ** 20,
  failed: dryRun ? [] : ['a1b2c3']
});

describe('%cluster clean', () => {
  it('a dry run lists what would go, with sizes and reasons', () => {
    const text = cleanReport('gpu', report(true));
    expect(text).toContain('Dry run: would remove on gpu');
    expect(text).toMatch(/jobs {5}cb-old-1 +2\.0 MiB {2}ended \(completed\)/);
    expect(text).toMatch(/envs {5}a1b2c3 +3\.0 GiB {2}not used for 40\.0 days/);
    expect(text).toContain(
      'Would free 3.0 GiB. Run %cluster clean gpu to remove.'
    );
    expect(text).toContain('Kept 1 item (1.0 KiB)');
  });

  it('a clean says what went, what freed and what could not go', () => {
    const text = cleanReport('gpu', report(false));
    expect(text).toContain('Removed on gpu');
    expect(text).toContain('cb-old-1');
    expect(text).not.toMatch(/envs {5}a1b2c3/);
    expect(text).toContain('Freed 2.0 MiB.');
    expect(text).toContain('Kept envs a1b2c3: being built');
  });

  it("runs the agent's clean with the cluster's retention, quoted", async () => {
    const commands: string[] = [];
    const clean = createClean({
      prepareCluster: async () => ({
        python: '/w/venv1/bin/python',
        pythonVersion: '3.6.8',
        notices: [],
        workDir: "/w/it's",
        runtimeDir: '/w/runtime/x',
        agent: 'python agent.py',
        transport: {
          exec: async (command: string) => {
            commands.push(command);
            return {
              stdout: JSON.stringify(report(true)),
              stderr: '',
              code: 0
            };
          }
        } as never
      })
    });
    const got = await clean(cluster, { dryRun: true });
    expect(got.remove).toHaveLength(2);
    expect(commands).toEqual([
      "python agent.py clean --workdir '/w/it'\\''s' --dry-run --jobs-days 3"
    ]);
  });
});
