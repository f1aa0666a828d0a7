import { interruptMatches, interruptScope } from './interrupt';

describe('scoped interrupts', () => {
  const cell = { session: 's1', notebook: 'a.ipynb', cellId: 'c1' };

  it('reads a scope from interrupt_request content, none for a plain one', () => {
    expect(interruptScope({})).toBeUndefined();
    expect(interruptScope(undefined)).toBeUndefined();
    expect(interruptScope({ cluster_bridge_notebook: 7 })).toBeUndefined();
    expect(
      interruptScope({
        cluster_bridge_notebook: 'a.ipynb',
        cell_ids: ['c1', 3]
      })
    ).toEqual({ cluster_bridge_notebook: 'a.ipynb', cell_ids: ['c1'] });
  });

  it('matches only the same connection, notebook and cells', () => {
    const scope = { cluster_bridge_notebook: 'a.ipynb', cell_ids: ['c1'] };
    expect(interruptMatches(scope, 's1', cell)).toBe(true);
    expect(interruptMatches(scope, 's2', cell)).toBe(false);
    expect(
      interruptMatches(scope, 's1', { ...cell, notebook: 'b.ipynb' })
    ).toBe(false);
    expect(interruptMatches(scope, 's1', { ...cell, cellId: 'c2' })).toBe(
      false
    );
    expect(
      interruptMatches({ cluster_bridge_notebook: 'a.ipynb' }, 's1', {
        ...cell,
        cellId: undefined
      })
    ).toBe(true);
  });

  it('lets the named cells decide for a request that named no notebook', () => {
    const bare = { session: 's1', cellId: 'c1' };
    expect(
      interruptMatches(
        { cluster_bridge_notebook: 'a.ipynb', cell_ids: ['c1'] },
        's1',
        bare
      )
    ).toBe(true);
    expect(
      interruptMatches({ cluster_bridge_notebook: 'a.ipynb' }, 's1', bare)
    ).toBe(false);
  });
});
