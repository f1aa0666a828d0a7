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
    expect(onDisk()).toEqual({
      version: 1,
      jobs: [job('a', { schedulerId: '42' })]
    });
    expect(fs.statSync(store.file).mode & 0o777).toBe(0o600);
    expect(new JobStore(dir).get('a')).toEqual(job('a', { schedulerId: '42' }));
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
