import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { SessionTable, type ISessionRecord } from './table';

function record(
  id: string,
  patch: Partial<ISessionRecord> = {}
): ISessionRecord {
  return {
    id,
    cluster: 'local',
    notebook: 'a.ipynb',
    resources: '',
    request: {},
    state: 'idle',
    scheduler: 'direct',
    startedAt: Date.now(),
    remoteDir: `/w/sessions/${id}`,
    ...patch
  };
}

describe('SessionTable', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sessions-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds the live session of a notebook on a cluster, never an ended one', () => {
    const table = new SessionTable(dir);
    table.put(record('s1', { state: 'ended' }));
    expect(table.find('a.ipynb', 'local')).toBeUndefined();
    table.put(record('s2'));
    expect(table.find('a.ipynb', 'local')?.id).toBe('s2');
    expect(table.find('b.ipynb', 'local')).toBeUndefined();
    expect(table.find('a.ipynb', 'other')).toBeUndefined();
  });

  it('survives a new process (reads the file) and stores no token', () => {
    new SessionTable(dir).put(record('s1'));
    const again = new SessionTable(dir);
    expect(again.get('s1')?.remoteDir).toBe('/w/sessions/s1');
    expect(fs.readFileSync(again.file, 'utf8')).not.toMatch(/token/);
    expect(fs.statSync(again.file).mode & 0o777).toBe(0o600);
  });

  it("never loses another kernel's sessions when saving", () => {
    const one = new SessionTable(dir);
    const two = new SessionTable(dir);
    one.put(record('s1', { notebook: 'one.ipynb' }));
    two.put(record('s2', { notebook: 'two.ipynb' }));
    one.put(record('s3', { notebook: 'three.ipynb' }));
    const ids = new SessionTable(dir)
      .list()
      .map(r => r.id)
      .sort();
    expect(ids).toEqual(['s1', 's2', 's3']);
    // A stop written by one kernel is seen by the other.
    two.put({ ...two.get('s1')!, state: 'ended', reason: 'stopped' });
    expect(one.find('one.ipynb', 'local')).toBeUndefined();
  });

  it('starts empty from a torn file', () => {
    fs.writeFileSync(path.join(dir, 'sessions.json'), '[{"id": "s1", "clu');
    const table = new SessionTable(dir);
    expect(table.list()).toEqual([]);
    table.put(record('s2'));
    expect(new SessionTable(dir).list().map(r => r.id)).toEqual(['s2']);
  });
});
