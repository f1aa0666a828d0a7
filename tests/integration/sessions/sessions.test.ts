/**
 * Sessions through jupyter_client (session_check.py) on real parts: the
 * built-in `local` cluster, the test sshd, and the single-node SLURM and
 * Grid Engine: state across cells, error and interrupt keep it, --fresh is
 * apart, conflicting options are refused, notebooks are isolated, queued
 * cells run in order, reattach after the kernel process dies and after the
 * sshd connection dies mid-cell, idle timeout, stop/restart/shutdown leave no
 * process, batch sessions (one allocation, time left, the time-limit end).
 */
import * as fs from 'fs';
import * as path from 'path';

import type { IClusterConfig } from '../../../src/shared/config';
import { sshCluster, sshd } from '../jobs/helpers';
import {
  HERE as KERNEL_HERE,
  IKernelEnv,
  kernelEnv,
  PYTHON,
  requirePython,
  run
} from '../kernel/helpers';
import { service } from '../schedulers/helpers';

const SCRIPT = path.join(__dirname, 'session_check.py');
void KERNEL_HERE;

interface IOut {
  type: string;
  content: { [key: string]: any };
}

interface ICell {
  outputs: IOut[];
  reply: { status: string; [key: string]: any };
  stdout: string;
  stderr: string;
  error: { ename: string; evalue: string; traceback: string[] } | null;
  result: string | null;
  displays: string[];
}

/** Runs one scenario in a kernel of its own; the clusters file holds `clusters`. */
async function scenario(
  name: string,
  cluster: string,
  clusters: { [name: string]: IClusterConfig } = {},
  env: { [key: string]: string } = {},
  timeoutMs = 300000
): Promise<{ [key: string]: any }> {
  const k: IKernelEnv = kernelEnv();
  try {
    const config = path.join(k.dir, 'clusters.json');
    fs.writeFileSync(config, JSON.stringify({ clusters }));
    const result = await run(PYTHON, [SCRIPT, name, cluster], {
      env: { ...k.env, CLUSTER_BRIDGE_CONFIG: config, ...env },
      timeoutMs
    });
    if (result.code !== 0) {
      throw new Error(
        `session_check.py ${name} ${cluster} failed (exit ${result.code}):\n${result.stderr}\n${result.stdout.slice(0, 4000)}`
      );
    }
    return JSON.parse(result.stdout);
  } finally {
    k.dispose();
  }
}

const ok = (cell: ICell) => {
  if (cell.reply?.status !== 'ok') {
    throw new Error(`cell failed: ${JSON.stringify(cell).slice(0, 2000)}`);
  }
  return cell;
};

function expectBasics(r: { [key: string]: any }): void {
  const pid = ok(r.set).result;
  // State across cells, in the same process.
  expect(ok(r.get).stdout).toBe('42\n');
  expect(r.get.result).toBe(pid);
  // An error keeps the session and what ran before it in the cell.
  expect(r.error.reply.status).toBe('error');
  expect(r.error.error.ename).toBe('ZeroDivisionError');
  expect(ok(r.after_error).result).toBe('42');
  // Interrupt: KeyboardInterrupt in the cell, the namespace stays.
  expect(r.interrupt.reply.status).toBe('error');
  expect(r.interrupt.error.ename).toBe('KeyboardInterrupt');
  expect(ok(r.after_interrupt).result).toBe('42');
  // --fresh: a process of its own, no shared state.
  expect(ok(r.fresh).stdout).toBe('False\n');
  expect(r.fresh.result).not.toBe(pid);
  // Different resources: refused with the running session's and the way on.
  expect(r.conflict.reply.status).toBe('error');
  expect(r.conflict.error.evalue).toMatch(/runs with no resource options/);
  expect(r.conflict.error.evalue).toMatch(/--cpus/);
  expect(r.conflict.error.evalue).toMatch(/%cluster restart/);
  expect(r.conflict.error.evalue).toMatch(/--fresh/);
  // Another notebook: its own namespace.
  expect(ok(r.other_notebook).stdout).toBe('False\n');
  // The list shows both notebooks' sessions.
  const table = ok(r.sessions).displays.join('\n');
  expect(table).toMatch(/other\.ipynb/);
  expect(table).toMatch(/kernel:/);
  expect(table).toMatch(/idle/);
  // Restart: an empty namespace; the old session's children are gone.
  expect(ok(r.restart).stdout).toMatch(/Restarted the session/);
  expect(r.child_alive_after_restart).toBe(false);
  expect(r.after_restart.error?.ename).toBe('NameError');
  expect(ok(r.stop).stdout).toMatch(/Stopped the session/);
  expect(ok(r.stop_other).stdout).toMatch(/Stopped the session/);
  expect(r.table.every((s: { state: string }) => s.state === 'ended')).toBe(
    true
  );
  expect(r.alive_after_stop).toEqual([false, false]);
}

describe('sessions on the local cluster', () => {
  beforeAll(() => requirePython(['jupyter_client']));

  it('keeps state across cells; error, interrupt, --fresh, conflicts, notebooks, restart, stop', async () => {
    expectBasics(await scenario('basics', 'local'));
  }, 320000);

  it('runs the cells of one session in order, others concurrently', async () => {
    const r = await scenario('queue', 'local');
    const [slow, b, c, fresh, other] = r.results as ICell[];
    for (const cell of r.results as ICell[]) {
      expect(cell.reply.status).toBe('ok');
    }
    const stdout = (cell: ICell) =>
      cell.outputs
        .filter(o => o.type === 'stream' && o.content.name === 'stdout')
        .map(o => o.content.text)
        .join('');
    expect(stdout(c)).toBe("['a', 'b', 'c']\n");
    expect(stdout(fresh)).toBe('fresh ran\n');
    expect(stdout(other)).toBe('other notebook ran\n');
    void slow;
    void b;
    // The --fresh cell and the other notebook's cell did not wait for the slow one.
    const order: number[] = r.done_order;
    expect(order.indexOf(3)).toBeLessThan(order.indexOf(0));
    expect(order.indexOf(4)).toBeLessThan(order.indexOf(0));
  }, 320000);

  it('survives the kernel process dying: the next cell finds the namespace, attach replays the lost cell', async () => {
    const r = await scenario('reattach', 'local');
    ok(r.set);
    expect(ok(r.after_restart).stdout).toBe('still here\n');
    // The cell the dead kernel was following: attached, every line once, in order.
    expect(ok(r.attach).stdout).toBe(
      Array.from({ length: 40 }, (_, i) => `line ${i}\n`).join('')
    );
  }, 320000);

  it('stops the kernel\u2019s sessions when the kernel is shut down on purpose', async () => {
    const r = await scenario('shutdown', 'local');
    ok(r.pid);
    expect(r.alive).toBe(false);
    expect(r.table[0]).toMatchObject({ state: 'ended' });
  }, 320000);

  it('ends a session after its idle timeout and starts a new one for the next cell', async () => {
    const r = await scenario('idle', 'local-idle', {
      'local-idle': { type: 'local', session: { idleTimeout: 3 } }
    });
    ok(r.pid);
    expect(r.alive).toBe(false);
    expect(ok(r.sessions).displays.join('\n')).toMatch(/idle timeout/);
    expect(ok(r.next).stdout).toBe('new session\n');
    expect(r.next.stderr).toMatch(/ended \(idle timeout/);
  }, 320000);
});

describe('sessions on an ssh host (the test sshd)', () => {
  let facts: ReturnType<typeof sshd>;
  const workDir = `~/.cb-sessions-it-${process.pid}`;
  beforeAll(() => {
    requirePython(['jupyter_client']);
    facts = sshd();
  });
  afterAll(() => {
    fs.rmSync(path.join(facts.home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  it('keeps state across cells; error, interrupt, --fresh, conflicts, notebooks, restart, stop', async () => {
    expectBasics(
      await scenario('basics', 'it-ssh', {
        'it-ssh': sshCluster(facts, { workDir })
      })
    );
  }, 320000);

  it('loses and duplicates no line when the sshd connection dies mid-cell', async () => {
    const r = await scenario(
      'drop',
      'it-ssh',
      { 'it-ssh': sshCluster(facts, { workDir }) },
      { CB_SSHD_CHILD_PATTERN: `sshd: ${facts.user}` }
    );
    ok(r.set);
    expect(r.cell.reply.status).toBe('ok');
    const lines = (r.cell.stdout as string).trimEnd().split('\n');
    expect(lines).toEqual(Array.from({ length: 3000 }, (_, i) => `n ${i}`));
    expect(ok(r.after).stdout).toBe('7\n');
  }, 320000);
});

describe.each([
  ['slurm', '00:01:00'],
  ['sge', '00:00:40']
] as const)('sessions on %s', (kind, limit) => {
  const workDir = `~/.cb-sessions-${kind}-${process.pid}`;
  let facts: ReturnType<typeof sshd>;
  beforeAll(() => {
    requirePython(['jupyter_client']);
    facts = sshd();
    service(kind);
  });
  afterAll(() => {
    fs.rmSync(path.join(facts.home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  it('holds one allocation across cells, shows time left, ends at the time limit with a clear error', async () => {
    const name = `it-${kind}`;
    const r = await scenario(
      'batch',
      name,
      {
        [name]: sshCluster(facts, {
          workDir,
          scheduler: kind,
          session: { warnBefore: 20 }
        })
      },
      { CB_SESSION_TIME: limit },
      600000
    );
    const allocation = String(ok(r.first).result);
    expect(allocation).toMatch(/^'\d+'$/);
    // The second cell runs in the same allocation and namespace.
    expect(ok(r.second).stdout).toBe(`2 ${allocation.slice(1, -1)}\n`);
    const table = ok(r.sessions).displays.join('\n');
    expect(table).toMatch(
      new RegExp(`${kind} ${allocation.slice(1, -1)}|${name}`)
    );
    expect(table).toMatch(/\s0:[0-5]\d\s+s-/); // time left, before the session id
    // A cell still running at the end: a clear error that names the time limit.
    expect(r.over.reply.status).toBe('error');
    expect(JSON.stringify(r.over.outputs)).toMatch(/ends in|time limit/);
    expect(r.over.error.evalue).toMatch(/time limit/);
    // The next cell starts a new session and says so.
    expect(ok(r.next).stdout).toBe('False\n');
    expect(r.next.stderr).toMatch(/ended/);
  }, 620000);
});
