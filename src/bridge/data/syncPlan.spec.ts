import { plan, requests, type IHashedEntry } from './syncPlan';

const file = (path: string, id: string, size = 10, mode = 0o644) =>
  ({ path, kind: 'f', size, mode, id }) as IHashedEntry;

describe('--sync plan', () => {
  it('sends only what changed and removes what went', () => {
    const local = [
      file('a.py', 'h1'),
      file('b.py', 'h2-new'),
      { path: 'pkg', kind: 'd', size: 0, mode: 0, id: '' } as IHashedEntry,
      { path: 'l', kind: 'l', size: 0, mode: 0, id: 'a.py' } as IHashedEntry,
      file('x.sh', 'h4', 10, 0o755)
    ];
    const p = plan(local, {
      'a.py': ['f', 'h1', 0o644],
      'b.py': ['f', 'h2', 0o644],
      'gone.py': ['f', 'h3', 0o644],
      pkg: ['d', '', 0],
      l: ['l', 'b.py', 0],
      'x.sh': ['f', 'h4', 0o644]
    });
    expect(p.puts.map(e => e.path)).toEqual(['b.py', 'l', 'x.sh']);
    expect(p.deletes).toEqual(['gone.py']);
    expect(p.next['x.sh']).toEqual(['f', 'h4', 0o755]);
    expect(Object.keys(p.next).sort()).toEqual([
      'a.py',
      'b.py',
      'l',
      'pkg',
      'x.sh'
    ]);
  });

  it('puts folders before what they hold', () => {
    const p = plan(
      [
        file('pkg/z.py', 'a'),
        { path: 'pkg', kind: 'd', size: 0, mode: 0, id: '' } as IHashedEntry
      ],
      {}
    );
    expect(p.puts.map(e => e.path)).toEqual(['pkg', 'pkg/z.py']);
  });

  it('cuts requests at the byte limit, a big file into pieces', () => {
    const p = plan(
      [file('a', 'ha', 60), file('b', 'hb', 250), file('c', 'hc', 0)],
      {
        old: ['f', 'x', 0o644]
      }
    );
    const r = requests(p, 100);
    expect(r.map(x => x.bytes)).toEqual([100, 100, 100, 10]);
    expect(r[0].delete).toEqual(['old']);
    expect(r[1].delete).toEqual([]);
    expect(r[0].put).toEqual([
      { p: 'a', k: 'f', h: 'ha', m: 0o644, n: 60, o: 0, len: 60 },
      { p: 'b', k: 'f', h: 'hb', m: 0o644, n: 250, o: 0, len: 40 }
    ]);
    expect(r[2].put[0]).toMatchObject({ p: 'b', o: 140, len: 100 });
    expect(r[3].put).toEqual([
      { p: 'b', k: 'f', h: 'hb', m: 0o644, n: 250, o: 240, len: 10 },
      { p: 'c', k: 'f', h: 'hc', m: 0o644, n: 0, o: 0, len: 0 }
    ]);
  });

  it('sends one empty request when nothing changed (the remote checks its token)', () => {
    const r = requests(plan([file('a', 'h')], { a: ['f', 'h', 0o644] }));
    expect(r).toEqual([{ delete: [], put: [], bytes: 0 }]);
  });
});
