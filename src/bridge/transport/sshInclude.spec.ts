import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import SSHConfig from 'ssh-config';

import { parseSshConfigHosts } from '../clusters/sshConfigHosts';
import { resolveRoute } from './sshRoute';
import {
  expandIncludes,
  IIncludeFileSystem,
  MAX_INCLUDE_DEPTH,
  readSshConfigText
} from './sshInclude';

/** An in-memory tree: absolute path -> text. */
function memoryFs(tree: { [file: string]: string }): IIncludeFileSystem {
  return {
    readFile: file => tree[file],
    readDir: dir => {
      const prefix = dir.endsWith('/') ? dir : dir + '/';
      const names = Object.keys(tree)
        .filter(f => f.startsWith(prefix))
        .map(f => f.slice(prefix.length).split('/')[0]);
      return names.length ? [...new Set(names)] : undefined;
    }
  };
}

const HOME = '/home/u';
const compute = (text: string, host: string) =>
  SSHConfig.parse(text).compute(host) as { [key: string]: unknown };

describe('expandIncludes', () => {
  it('follows relative, ~ and absolute Includes with wildcards, in sorted order', () => {
    const files = memoryFs({
      '/home/u/.ssh/config.d/20-gpu': 'Host gpu\n  HostName gpu.example.org\n',
      '/home/u/.ssh/config.d/10-login':
        'Host login\n  HostName login.example.org\n',
      '/home/u/.ssh/config.d/.hidden': 'Host hidden\n',
      '/home/u/site.conf': 'Host site\n  User siteuser\n',
      '/etc/ssh/extra.conf': 'Host extra\n  Port 2222\n'
    });
    const text = expandIncludes(
      'Include config.d/*\nInclude ~/site.conf "/etc/ssh/extra.conf"\nInclude missing/*.conf\n',
      HOME,
      files
    );
    const hosts = parseSshConfigHosts(text).map(h => h.alias);
    expect(hosts).toEqual(['login', 'gpu', 'site', 'extra']);
    expect(compute(text, 'gpu').HostName).toBe('gpu.example.org');
    expect(compute(text, 'extra').Port).toBe('2222');
  });

  it('keeps the lines after an Include in the block it was written in', () => {
    const files = memoryFs({
      '/home/u/.ssh/other': 'Host other\n  User otheruser\n'
    });
    const text = expandIncludes(
      'Host cluster\n  Include other\n  User me\n',
      HOME,
      files
    );
    expect(compute(text, 'cluster').User).toBe('me');
    expect(compute(text, 'other').User).toBe('otheruser');
  });

  it('stops at the depth ssh allows instead of looping forever', () => {
    const files = memoryFs({
      '/home/u/.ssh/loop': 'Include loop\nHost h\n'
    });
    const text = expandIncludes('Include loop\n', HOME, files);
    expect(text.split('\n').filter(l => l === 'Host h')).toHaveLength(
      MAX_INCLUDE_DEPTH
    );
  });

  it('routes through a host that only an included file defines (real files)', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-include-'));
    try {
      fs.mkdirSync(path.join(home, '.ssh', 'config.d'), { recursive: true });
      fs.writeFileSync(
        path.join(home, '.ssh', 'config'),
        'Include config.d/*.conf\nHost *\n  User fallback\n'
      );
      fs.writeFileSync(
        path.join(home, '.ssh', 'config.d', 'hpc.conf'),
        'Host hpc\n  HostName hpc.example.org\n  Port 2200\n  User alice\n  ProxyJump bastion\n'
      );
      const text = readSshConfigText(path.join(home, '.ssh', 'config'), home);
      const route = resolveRoute(
        'hpc',
        { type: 'ssh' },
        { sshConfigText: text, home, localUser: 'me' }
      );
      expect(route.target).toMatchObject({
        host: 'hpc.example.org',
        port: 2200,
        user: 'alice'
      });
      expect(route.jumps.map(j => [j.alias, j.user])).toEqual([
        ['bastion', 'fallback']
      ]);
      expect(readSshConfigText(path.join(home, 'nope'), home)).toBeUndefined();
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
