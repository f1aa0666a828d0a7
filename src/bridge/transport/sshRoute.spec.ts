import { expandPath, parseJumpSpec, resolveRoute } from './sshRoute';

const home = '/home/me';
const base = { home, localUser: 'me' };

describe('resolveRoute', () => {
  it('applies ssh defaults without a config file', () => {
    const { target, jumps } = resolveRoute(
      'hpc.example.org',
      { type: 'ssh' },
      base
    );
    expect(target).toMatchObject({
      alias: 'hpc.example.org',
      host: 'hpc.example.org',
      port: 22,
      user: 'me',
      identityFilesExplicit: false,
      identityFiles: [
        '/home/me/.ssh/id_ed25519',
        '/home/me/.ssh/id_ecdsa',
        '/home/me/.ssh/id_rsa'
      ],
      knownHostsFiles: ['/home/me/.ssh/known_hosts', '/etc/ssh/ssh_known_hosts']
    });
    expect(jumps).toEqual([]);
  });

  const sshConfigText = `
Host hpc
  HostName login.hpc.example.org
  User alice
  Port 2222
  IdentityFile ~/.ssh/hpc_%u_%h
  ProxyJump bastion,carol@gw2:2200

Host bastion
  HostName bastion.example.org
  User bob
  IdentityFile %d/.ssh/bastion

Host *.cluster
  User dave
  HashKnownHosts yes
  IdentitiesOnly yes
  StrictHostKeyChecking yes

Host *
  ServerAliveInterval 30
  ConnectTimeout 5
`;

  it('reads HostName, User, Port, IdentityFile and ProxyJump hops from ~/.ssh/config', () => {
    const { target, jumps } = resolveRoute(
      'hpc',
      { type: 'ssh' },
      { ...base, sshConfigText }
    );
    expect(target).toMatchObject({
      alias: 'hpc',
      host: 'login.hpc.example.org',
      port: 2222,
      user: 'alice',
      identityFiles: ['/home/me/.ssh/hpc_me_login.hpc.example.org'],
      identityFilesExplicit: true,
      keepaliveMs: 30000,
      connectTimeoutMs: 5000
    });
    expect(jumps.map(j => [j.user, j.host, j.port])).toEqual([
      ['bob', 'bastion.example.org', 22],
      ['carol', 'gw2', 2200]
    ]);
    expect(jumps[0].identityFiles).toEqual(['/home/me/.ssh/bastion']);
  });

  it('lets cluster fields override ~/.ssh/config', () => {
    const { target, jumps } = resolveRoute(
      'x',
      {
        type: 'ssh',
        host: 'hpc',
        port: 22022,
        user: 'eve',
        identityFile: '~/keys/k',
        knownHostsFile: '/tmp/kh',
        proxyJump: 'none'
      },
      { ...base, sshConfigText }
    );
    expect(target).toMatchObject({
      host: 'login.hpc.example.org',
      port: 22022,
      user: 'eve',
      identityFiles: ['/home/me/keys/k'],
      knownHostsFiles: ['/tmp/kh']
    });
    expect(jumps).toEqual([]);
  });

  it('matches Host patterns', () => {
    const { target } = resolveRoute(
      'gpu.cluster',
      { type: 'ssh' },
      { ...base, sshConfigText }
    );
    expect(target).toMatchObject({
      host: 'gpu.cluster',
      user: 'dave',
      identitiesOnly: true,
      hashKnownHosts: true,
      strictHostKeyChecking: 'yes'
    });
  });

  it('uses the cluster name as the host when none is given, and the cluster key for hops', () => {
    const { target, jumps } = resolveRoute(
      'node1',
      { type: 'ssh', proxyJump: 'j1', identityFile: '/k' },
      base
    );
    expect(target.host).toBe('node1');
    expect(jumps[0]).toMatchObject({ host: 'j1', identityFiles: ['/k'] });
  });
});

describe('parseJumpSpec', () => {
  it('parses user, host and port', () => {
    expect(parseJumpSpec('h')).toEqual({ host: 'h' });
    expect(parseJumpSpec('u@h:2222')).toEqual({
      user: 'u',
      host: 'h',
      port: 2222
    });
    expect(parseJumpSpec('ssh://u@h:22')).toEqual({
      user: 'u',
      host: 'h',
      port: 22
    });
    expect(parseJumpSpec('[::1]:2200')).toEqual({ host: '::1', port: 2200 });
    expect(parseJumpSpec('u@x@h')).toEqual({ user: 'u@x', host: 'h' });
  });

  it('rejects bad hops', () => {
    expect(() => parseJumpSpec('h:99999')).toThrow(/invalid ProxyJump/);
    expect(() => parseJumpSpec('u@')).toThrow(/invalid ProxyJump/);
  });
});

describe('expandPath', () => {
  const t = {
    home,
    localUser: 'me',
    host: 'h',
    user: 'u',
    port: 22,
    alias: 'a'
  };
  it('expands ~ and tokens, relative paths under ~/.ssh', () => {
    expect(expandPath('~/.ssh/id_%r@%h:%p', t)).toBe('/home/me/.ssh/id_u@h:22');
    expect(expandPath('%d/k_%n_%u%%', t)).toBe('/home/me/k_a_me%');
    expect(expandPath('rel', t)).toBe('/home/me/.ssh/rel');
    expect(expandPath('~', t)).toBe('/home/me');
  });
});
