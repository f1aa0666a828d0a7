import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { VARS_IN_METADATA_KEY, VARS_OUT_METADATA_KEY } from '../../shared/data';
import { varsFolders } from '../data/varsLocal';
import { varsAsk, varsLineCell, varsReplyMetadata } from './varsCommands';

describe('varsAsk', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-cmd-'));
  const saved = process.env.CLUSTER_BRIDGE_STATE_DIR;
  beforeAll(() => (process.env.CLUSTER_BRIDGE_STATE_DIR = state));
  afterAll(() => {
    process.env.CLUSTER_BRIDGE_STATE_DIR = saved;
    fs.rmSync(state, { recursive: true, force: true });
  });

  it('is nothing for a cell that moves no variables', () => {
    expect(varsAsk({ cluster: 'x' }, {})).toBeUndefined();
  });

  it('refuses --in and --out without the frontend metadata, saying where they work', () => {
    expect(() => varsAsk({ inVars: ['a'] }, {})).toThrow(
      /--in cannot be used here: .*JupyterLab.*own Python kernel/
    );
    expect(() => varsAsk({ outVars: ['a'] }, undefined)).toThrow(
      /--out cannot be used here: .*JupyterLab/
    );
  });

  it('takes only a folder of ours holding exactly the names asked', async () => {
    const dir = await varsFolders().create();
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ vars: [{ name: 'a', file: 'a.npy' }] })
    );
    const md = { [VARS_IN_METADATA_KEY]: dir, [VARS_OUT_METADATA_KEY]: true };
    expect(varsAsk({ inVars: ['a'], outVars: ['b'] }, md)).toEqual({
      inDir: dir,
      out: ['b']
    });
    expect(() => varsAsk({ inVars: ['a', 'c'] }, md)).toThrow(
      /holds a, the cell asks for a, c/
    );
    expect(() =>
      varsAsk({ inVars: ['a'] }, { [VARS_IN_METADATA_KEY]: os.tmpdir() })
    ).toThrow(/not one the bridge made/);
  });
});

describe('push and pull', () => {
  const sessions = (live: boolean) =>
    ({ find: () => (live ? { id: 's' } : undefined) }) as any;

  it('are session cells with only --in / only --out', () => {
    expect(
      varsLineCell('push', ['gpu', 'a', 'b'], sessions(false), () => 'nb')
    ).toEqual({
      request: { cluster: 'gpu', inVars: ['a', 'b'] },
      code: '# %cluster push gpu a,b'
    });
    expect(
      varsLineCell('pull', ['gpu', 'c'], sessions(true), () => 'nb').request
    ).toEqual({ cluster: 'gpu', outVars: ['c'] });
  });

  it('pull needs a live session', () => {
    expect(() =>
      varsLineCell('pull', ['gpu', 'c'], sessions(false), () => 'nb')
    ).toThrow(/no live session on gpu/);
  });

  it('put the import step into the reply metadata', () => {
    expect(varsReplyMetadata({ status: 'ok' })).toBeUndefined();
    expect(
      varsReplyMetadata({ status: 'ok', varsOut: { dir: '/d', code: 'x' } })
    ).toEqual({ [VARS_OUT_METADATA_KEY]: { dir: '/d', code: 'x' } });
  });
});
