/**
 * Shared pieces of the distributed integration tests: the all-reduce cell,
 * the ranks display as the sink saw it last, the two-node SLURM's facts and
 * its submit user's login, and pid marks for the interrupt tests.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { RANKS_MIME, type IRanksPayload } from '../../../src/shared/mime';
import { eventually, RecordingSink, sshd } from '../jobs/helpers';
import { ROOT } from '../schedulers/helpers';

/** A real rendezvous among the ranks at MASTER_ADDR:MASTER_PORT; one line per rank. */
export const ALLREDUCE = fs.readFileSync(
  path.join(__dirname, 'allreduce.py'),
  'utf8'
);

/** The newest form of the ranks display. */
export function ranksOf(sink: RecordingSink): IRanksPayload | undefined {
  const all = sink.calls
    .filter(c => c.kind === 'display' || c.kind === 'update')
    .map(c => (c as { data: { [m: string]: unknown } }).data[RANKS_MIME])
    .filter(Boolean) as IRanksPayload[];
  return all.pop();
}

/** The cell ran ALLREDUCE as 2 ranks on one node through `launch`: rank 0's line inline, rank 1 done. */
export function expectAllReducedOnOneNode(
  outcome: { status: string },
  sink: RecordingSink,
  launch: string
): void {
  expect(sink.errors()).toEqual([]);
  expect(outcome.status).toBe('ok');
  expect(sink.text('stdout')).toMatch(
    /^rank 0\/2 local 0 on \S+: allreduce 3 cvd=None\n$/
  );
  expect(ranksOf(sink)).toMatchObject({
    launch,
    ranks: [expect.objectContaining({ rank: 1, localRank: 1, state: 'done' })]
  });
}

/** Rank 1 raises (line 4 of the cell, under its magic line); the other ranks would sleep. */
export const FAIL_RANK_1 =
  'import os, time\nif os.environ["RANK"] == "1":\n    raise ValueError("rank one broke")\ntime.sleep(120)';

/** The cell ran FAIL_RANK_1 (lineOffset 1): one error, rank 1's traceback, rank 1 named, and `extra`. */
export function expectRankOneFailed(
  outcome: { status: string },
  sink: RecordingSink,
  extra: Partial<IRanksPayload> = {}
): void {
  expect(outcome.status).toBe('error');
  const errors = sink.errors();
  expect(errors).toHaveLength(1);
  expect(errors[0].evalue).toBe('rank one broke');
  expect(errors[0].traceback[0]).toMatch(/^Rank 1 of 2 \(on \S+\) failed:$/);
  expect(errors[0].traceback.join('\n')).toContain('line 4');
  expect(ranksOf(sink)).toMatchObject({
    failedRank: 1,
    ranks: [expect.objectContaining({ rank: 1, state: 'error' })],
    ...extra
  });
}

export function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

const START_TWO_NODES = 'scripts/services/slurm2.sh start';

/** The facts slurm2.sh wrote; a clear error when the two-node cluster is not up. */
export function twoNodeService(): { [key: string]: string } {
  const file = path.join(ROOT, '.cache', 'services', 'slurm2.env');
  if (!fs.existsSync(file)) {
    throw new Error(
      `two-node SLURM missing: ${file}. Start it with: ${START_TWO_NODES}`
    );
  }
  const facts: { [key: string]: string } = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      facts[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  const states = execFileSync('sinfo', ['-h', '-N', '-o', '%N %T'], {
    encoding: 'utf8',
    env: { ...process.env, SLURM_CONF: facts.SLURM_CONF }
  });
  if (!/cbn1 (idle|mixed|alloc)/.test(states)) {
    throw new Error(
      `two-node SLURM not ready (${states}). Run: ${START_TWO_NODES}`
    );
  }
  return facts;
}

/** The submit user logs in with the test sshd's client key (sshd.sh may start after slurm2.sh). */
export function shareClientKeys(user: string): string {
  const home = execFileSync('getent', ['passwd', user], { encoding: 'utf8' })
    .trim()
    .split(':')[5];
  const from = path.join(sshd().home, '.ssh', 'authorized_keys');
  const to = path.join(home, '.ssh', 'authorized_keys');
  if (
    !fs.existsSync(to) ||
    !fs.readFileSync(to).equals(fs.readFileSync(from))
  ) {
    fs.copyFileSync(from, to);
    execFileSync('chown', [`${user}:`, to]);
    fs.chmodSync(to, 0o600);
  }
  return home;
}

/**
 * A folder (in `home`, writable by the job's user) where each rank of
 * `code` notes its pid and its child's; for tests that interrupt ranks.
 */
export class PidMarks {
  readonly dir: string;

  constructor(home: string, prefix: string) {
    this.dir = fs.mkdtempSync(path.join(home, prefix));
    fs.chmodSync(this.dir, 0o777);
  }

  /** A cell body: start `sleep 300`, note both pids, print, sleep. */
  get code(): string {
    return [
      'import os, subprocess, time',
      'p = subprocess.Popen(["sleep", "300"])',
      `open(os.path.join(${JSON.stringify(this.dir)}, "pids-" + os.environ["RANK"]), "w").write("%d %d" % (os.getpid(), p.pid))`,
      'print("rank", os.environ["RANK"], "sleeping", flush=True)',
      'time.sleep(300)'
    ].join('\n');
  }

  /** True once every one of `ranks` has noted its pids. */
  noted(ranks: number[], timeoutMs = 90000): Promise<boolean> {
    const file = (r: number) => path.join(this.dir, `pids-${r}`);
    return eventually(
      () =>
        ranks.every(
          r => fs.existsSync(file(r)) && fs.statSync(file(r)).size > 0
        ),
      timeoutMs
    );
  }

  /** The rank's pid and its child's. */
  pidsOf(rank: number): number[] {
    return fs
      .readFileSync(path.join(this.dir, `pids-${rank}`), 'utf8')
      .split(' ')
      .map(Number);
  }

  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
