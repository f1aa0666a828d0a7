import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { ClusterRegistry, UnknownClusterError } from './registry';
import { parseSshConfigHosts } from './sshConfigHosts';
import { validateClustersFile } from './validate';

describe('ClusterRegistry', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-registry-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('always has the built-in local cluster as default', () => {
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: null
    });
    expect(registry.names()).toEqual(['local']);
    expect(registry.defaultCluster).toBe('local');
    expect(registry.resolve().config.type).toBe('local');
  });

  it('lists non-wildcard hosts of ~/.ssh/config', () => {
    const sshConfig = write(
      'config',
      'Host *\n  ServerAliveInterval 30\nHost gpu gpu2\n  HostName g.example.org\n  User alice\nHost !bad *.corp dev-?\n  User x\nHost login\n  HostName l.example.org\n'
    );
    const registry = new ClusterRegistry({
      sshConfigPath: sshConfig,
      configFile: null
    });
    expect(registry.names()).toEqual(['local', 'gpu', 'gpu2', 'login']);
    const gpu = registry.resolve('gpu');
    expect(gpu.source).toBe('ssh-config');
    expect(gpu.config).toMatchObject({
      type: 'ssh',
      host: 'gpu',
      description: 'ssh alice@g.example.org'
    });
  });

  it('merges file over ssh config and settings over file, field by field', () => {
    const sshConfig = write('config', 'Host hpc\n  HostName hpc.example.org\n');
    const file = write(
      'clusters.json',
      JSON.stringify({
        default: 'hpc',
        clusters: {
          hpc: { type: 'ssh', scheduler: 'slurm', workDir: '~/cb' },
          box: { type: 'ssh', host: 'box.example.org', port: 2222, user: 'bob' }
        }
      })
    );
    const registry = new ClusterRegistry({
      sshConfigPath: sshConfig,
      configFile: file
    });
    expect(registry.problems).toEqual([]);
    expect(registry.defaultCluster).toBe('hpc');
    expect(registry.resolve('hpc')).toEqual({
      name: 'hpc',
      source: 'file',
      config: {
        type: 'ssh',
        host: 'hpc',
        description: 'ssh hpc.example.org',
        scheduler: 'slurm',
        workDir: '~/cb'
      }
    });
    registry.setSettings({ hpc: { type: 'ssh', scheduler: 'sge' } }, 'box');
    expect(registry.resolve('hpc').config.scheduler).toBe('sge');
    expect(registry.resolve('hpc').config.workDir).toBe('~/cb');
    expect(registry.resolve('hpc').source).toBe('settings');
    expect(registry.defaultCluster).toBe('box');
    registry.use('local');
    expect(registry.defaultCluster).toBe('local');
    // Other settings with the same default keep `%cluster use`; a new default (the picker
    // moved) replaces it: the latest choice wins.
    registry.setSettings({ hpc: { type: 'ssh', scheduler: 'slurm' } }, 'box');
    expect(registry.defaultCluster).toBe('local');
    registry.setSettings({ hpc: { type: 'ssh', scheduler: 'slurm' } }, 'hpc');
    expect(registry.defaultCluster).toBe('hpc');
  });

  it('picks up edits of the clusters file without a restart', () => {
    const file = write('live.json', JSON.stringify({ clusters: {} }));
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: file
    });
    expect(registry.names()).toEqual(['local']);
    fs.writeFileSync(
      file,
      JSON.stringify({
        clusters: { added: { type: 'ssh', host: 'h.example.org' } }
      })
    );
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 5000);
    try {
      expect(registry.names()).toEqual(['local', 'added']);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('reports an invalid file and keeps working', () => {
    const file = write(
      'bad.json',
      JSON.stringify({ clusters: { x: { type: 'ftp', prot: 1 } } })
    );
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: file
    });
    expect(registry.names()).toEqual(['local']);
    expect(registry.problems.join('\n')).toMatch(
      /\/clusters\/x\/type: must be one of "ssh", "local"/
    );
    expect(registry.problems.join('\n')).toMatch(/unknown field "prot"/);
  });

  it('reports a missing file', () => {
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: path.join(dir, 'nope.json')
    });
    expect(registry.problems[0]).toMatch(/does not exist/);
  });

  it('throws on an unknown cluster, listing the known ones', () => {
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: null
    });
    expect(() => registry.resolve('nowhere')).toThrow(
      new UnknownClusterError('nowhere', ['local'])
    );
    expect(() => registry.resolve('nowhere')).toThrow(
      'unknown cluster "nowhere". Known clusters: local'
    );
    expect(new UnknownClusterError('x', []).message).toBe(
      'unknown cluster "x". Known clusters: (none)'
    );
  });

  it('says why a cluster it cannot find may be missing: a clusters file that did not load', () => {
    const file = write(
      'bad.json',
      JSON.stringify({
        clusters: { tidy: { type: 'local', retention: { jobsDays: 0 } } }
      })
    );
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: file
    });
    expect(() => registry.resolve('tidy')).toThrow(
      /^unknown cluster "tidy"\. Known clusters: local\. Some clusters could not be read: .*bad\.json: invalid cluster config:\n {2}\/clusters\/tidy\/retention\/jobsDays: must be more than 0$/
    );
  });

  it('ignores a default that names no cluster', () => {
    const file = write(
      'c.json',
      JSON.stringify({ default: 'gone', clusters: {} })
    );
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: file
    });
    expect(registry.defaultCluster).toBe('local');
  });

  it('rejects invalid settings as a whole', () => {
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: null
    });
    expect(() => registry.setSettings({ a: { type: 'ssh', port: 0 } })).toThrow(
      /\/clusters\/a\/port/
    );
    expect(registry.names()).toEqual(['local']);
  });

  it('tracks connection state and notifies listeners', () => {
    const registry = new ClusterRegistry({
      sshConfigPath: null,
      configFile: null
    });
    const seen: string[] = [];
    registry.onChange(() => seen.push(registry.info()[0].state));
    registry.setConnectionState('local', 'connecting');
    registry.setConnectionState('local', 'connecting');
    registry.setConnectionState('local', 'error', 'boom');
    expect(seen).toEqual(['connecting', 'error']);
    expect(registry.info()[0]).toEqual({
      name: 'local',
      source: 'builtin',
      type: 'local',
      scheduler: 'direct',
      description: 'this machine',
      state: 'error',
      error: 'boom'
    });
  });
});

describe('validateClustersFile', () => {
  it('accepts the minimal form and the full form', () => {
    expect(
      validateClustersFile({
        default: 'a',
        clusters: {
          a: {
            type: 'ssh',
            host: 'h',
            port: 22,
            user: 'u',
            identityFile: '~/.ssh/id',
            scheduler: 'slurm',
            workDir: '~/w',
            python: '/usr/bin/python3'
          },
          b: { type: 'local' },
          c: {
            type: 'ssh',
            env: {
              python: '3.11',
              channels: ['conda-forge'],
              conda: ['numpy'],
              pip: ['rich'],
              setup: ['module load x'],
              manager: 'conda'
            },
            envs: { torch: { conda: ['pytorch'] } },
            defaults: {
              partition: 'gpu',
              time: '01:00:00',
              mem: '16G',
              cpus: 4,
              gpus: 1,
              gpuFlag: 'gres',
              directives: ['#SBATCH --exclusive']
            }
          }
        }
      })
    ).toEqual([]);
  });

  it('requires clusters and a type', () => {
    expect(validateClustersFile({})).toEqual([
      "(top level): must have required property 'clusters'"
    ]);
    expect(validateClustersFile({ clusters: { a: {} } })).toEqual([
      "/clusters/a: must have required property 'type'"
    ]);
  });
});

describe('parseSshConfigHosts', () => {
  it('skips patterns and keeps order', () => {
    expect(
      parseSshConfigHosts('Host b a\nHost *\nHost a\n').map(h => h.alias)
    ).toEqual(['b', 'a']);
  });
});
