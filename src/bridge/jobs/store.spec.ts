import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IJobInfo } from '../../shared/jobs';
import { JobStore } from './store';

const job = (id: string, over: Partial<IJobInfo> = {}): IJobInfo => ({
  id,
  cluster: 'local',
  scheduler: 'direct',
  remoteDir: `/w/jobs/${id}`,
  phase: 'running',
  detached: true,
  submittedAt: 1000,
  title: 'print(1)',
  offset: 0,
  ...over
});

describe('JobStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-store-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const onDisk = () =>
    JSON.parse(fs.readFileSync(path.join(dir, 'jobs.json'), 'utf8'));

  it('lists newest first and hands out copies', () => {
    const store = new JobStore(dir);
    store.put(job('a', { submittedAt: 1 }));
    store.put(job('b', { submittedAt: 2 }));
    expect(store.list().map(j => j.id)).toEqual(['b', 'a']);
    store.get('a')!.phase = 'failed';
    store.list()[0].phase = 'failed';
    expect(store.get('a')!.phase).toBe('running');
    expect(store.get('b')!.phase).toBe('running');
    expect(store.get('nope')).toBeUndefined();
    store.flush(); // no save left pending once the folder is removed
  });

  it('survives a restart: a new store reads what flush wrote, private to the user', () => {
    const store = new JobStore(dir);
    store.put(job('a', { schedulerId: '42' }));
    store.flush();
    const stamped = {
      ...job('a', { schedulerId: '42' }),
      updatedAt: expect.any(Number)
    };
    expect(onDisk()).toEqual({ version: 1, jobs: [stamped] });
    expect(fs.statSync(store.file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${store.file}.lock`)).toBe(false);
    expect(new JobStore(dir).get('a')).toEqual(stamped);
  });

  it('writes a burst of updates once, soon after', async () => {
    const store = new JobStore(dir);
    store.put(job('a', { phase: 'starting' }));
    store.put(job('a', { phase: 'running' }));
    expect(fs.existsSync(store.file)).toBe(false);
    await new Promise(resolve => setTimeout(resolve, 150));
    expect(onDisk().jobs.map((j: IJobInfo) => j.phase)).toEqual(['running']);
  });

  it('keeps the jobs another kernel recorded in the same file', () => {
    const mine = new JobStore(dir);
    const theirs = new JobStore(dir);
    theirs.put(job('theirs', { submittedAt: 1 }));
    theirs.flush();
    mine.put(job('mine', { submittedAt: 2 }));
    mine.flush();
    expect(onDisk().jobs.map((j: IJobInfo) => j.id)).toEqual([
      'mine',
      'theirs'
    ]);
  });

  it('never writes back its stale copy of a job another kernel changed since', () => {
    const first = new JobStore(dir);
    first.put(job('shared', { phase: 'running' }));
    first.flush();
    // A second kernel attaches to the job and sees it finish.
    const second = new JobStore(dir);
    second.put(job('shared', { phase: 'done', endState: 'completed' }));
    second.flush();
    // The first kernel saves for an unrelated job of its own.
    first.put(job('other', { submittedAt: 2000 }));
    first.flush();
    const shared = onDisk().jobs.find((j: IJobInfo) => j.id === 'shared');
    expect(shared).toMatchObject({ phase: 'done', endState: 'completed' });
    expect(first.get('shared')).toMatchObject({ endState: 'completed' });
    expect(new JobStore(dir).list().map(j => j.id)).toEqual([
      'other',
      'shared'
    ]);
  });

  it("sees another kernel's changes without a restart", () => {
    const mine = new JobStore(dir);
    mine.put(job('a', { phase: 'running' }));
    mine.flush();
    const theirs = new JobStore(dir);
    theirs.put(job('a', { phase: 'done', endState: 'cancelled' }));
    theirs.put(job('b', { submittedAt: 5000 }));
    theirs.flush();
    expect(mine.get('a')).toMatchObject({ endState: 'cancelled' });
    expect(mine.list().map(j => j.id)).toEqual(['b', 'a']);
  });

  it('keeps its own newer change over an older one on disk', () => {
    const mine = new JobStore(dir);
    const theirs = new JobStore(dir);
    theirs.put(job('a', { phase: 'running' }));
    mine.put(job('a', { phase: 'done', endState: 'completed' }));
    theirs.flush();
    mine.flush();
    expect(onDisk().jobs[0]).toMatchObject({ endState: 'completed' });
  });

  it('loses no record when writers in four processes save at once', async () => {
    const perWriter = 40;
    const writers = ['w1', 'w2', 'w3', 'w4'].map(tag =>
      Private.writerProcess(dir, tag, perWriter)
    );
    const codes = await Promise.all(writers);
    expect(codes).toEqual([0, 0, 0, 0]);
    const ids = onDisk().jobs.map((j: IJobInfo) => j.id);
    expect(ids).toHaveLength(4 * perWriter);
    expect(new Set(ids).size).toBe(4 * perWriter);
    expect(fs.existsSync(path.join(dir, 'jobs.json.lock'))).toBe(false);
  });

  it('breaks a lock left by a writer that died, or one held far too long', () => {
    const lock = path.join(dir, 'jobs.json.lock');
    const dead = deadPid();
    fs.writeFileSync(lock, `${os.hostname()} ${dead} 1`);
    const store = new JobStore(dir);
    store.put(job('a'));
    store.flush();
    expect(onDisk().jobs).toHaveLength(1);
    expect(fs.existsSync(lock)).toBe(false);

    // Another host's lock: its pid means nothing here, only its age counts.
    fs.writeFileSync(lock, `elsewhere.example ${process.pid} 1`);
    const old = Date.now() / 1000 - 60;
    fs.utimesSync(lock, old, old);
    store.put(job('b'));
    store.flush();
    expect(onDisk().jobs).toHaveLength(2);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('drops the oldest finished jobs beyond 200, never an unfinished one', () => {
    const store = new JobStore(dir);
    store.put(job('old-running', { submittedAt: 0 }));
    for (let i = 1; i <= 202; i++) {
      store.put(
        job(`done-${i}`, {
          submittedAt: i,
          phase: 'done',
          endState: 'completed'
        })
      );
    }
    store.flush();
    const ids = onDisk().jobs.map((j: IJobInfo) => j.id);
    expect(ids).toHaveLength(201);
    expect(ids).toContain('old-running');
    expect(ids).not.toContain('done-1');
    expect(ids).not.toContain('done-2');
    expect(ids).toContain('done-3');
    // Dropped for good: a later save does not bring them back from the file.
    store.put(job('new', { submittedAt: 500 }));
    store.flush();
    expect(new JobStore(dir).get('done-1')).toBeUndefined();
  });

  it('treats a corrupt file as empty and replaces it on save', () => {
    fs.writeFileSync(path.join(dir, 'jobs.json'), '{not json');
    const store = new JobStore(dir);
    expect(store.list()).toEqual([]);
    store.put(job('a'));
    store.flush();
    expect(onDisk().jobs).toHaveLength(1);
  });

  it('never fails a cell when it cannot write: one warning', () => {
    const blocker = path.join(dir, 'file');
    fs.writeFileSync(blocker, '');
    const warn = jest
      .spyOn(console, 'error')
      .mockImplementation(() => undefined);
    try {
      const store = new JobStore(path.join(blocker, 'state'));
      store.put(job('a'));
      expect(() => store.flush()).not.toThrow();
      store.flush();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(store.get('a')).toBeDefined();
    } finally {
      warn.mockRestore();
    }
  });
});

/** A pid that no process has now: one of a child that already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, [
    '-e',
    'process.stdout.write(String(process.pid))'
  ]);
  return Number(r.stdout.toString());
}

namespace Private {
  /**
   * A separate node process running this very store.ts (transpiled on the
   * fly), putting and flushing `count` jobs of its own one by one.
   */
  export function writerProcess(
    dir: string,
    tag: string,
    count: number
  ): Promise<number | null> {
    const script = `
      const fs = require('fs'), Module = require('module'), ts = require('typescript');
      const file = ${JSON.stringify(path.join(__dirname, 'store.ts'))};
      const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 }
      }).outputText;
      const m = new Module(file);
      m.paths = Module._nodeModulePaths(${JSON.stringify(process.cwd())});
      m._compile(js, file);
      const store = new m.exports.JobStore(${JSON.stringify(dir)});
      for (let i = 0; i < ${count}; i++) {
        store.put({ id: ${JSON.stringify(tag)} + '-' + i, cluster: 'local', scheduler: 'direct',
          remoteDir: '/w', phase: 'running', detached: true, submittedAt: i, title: '', offset: 0 });
        store.flush();
      }
    `;
    return new Promise(resolve => {
      const child = spawn(process.execPath, ['-e', script], {
        stdio: ['ignore', 'inherit', 'inherit']
      });
      child.on('close', code => resolve(code));
    });
  }
}
