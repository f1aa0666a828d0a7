// Starts app/server.py on a free port of 127.0.0.1 and waits until it answers.
// Used by app/serve.js (`npm run start:app`) and by the ui-tests global setup.

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const APP_DIR = __dirname;
const REPO = path.resolve(APP_DIR, '..');
const PYTHON = process.env.CLUSTER_BRIDGE_PYTHON || '/usr/bin/python3';

/** A port that was free a moment ago (the server refuses to move on). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function get(url, headers) {
  return new Promise(resolve => {
    const req = http.get(url, { headers, timeout: 5000 }, res => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

/**
 * Starts the server. Options:
 *   rootDir     folder the file browser shows (default: the repo)
 *   test        empty token, no XSRF check (Playwright)
 *   token       token to require (default: random unless test)
 *   dataPrefix  Jupyter prefix with our kernelspec + labextension
 *               (default <repo>/.jupyter-data)
 *   stateDir    user settings + workspaces (default <dataPrefix>/lab-state)
 *   logFile     server output goes here; otherwise to this process's stderr
 *   env         extra environment for the server (and its kernels)
 *   timeoutMs   how long to wait for the server to answer (default 60 s)
 * Resolves to { port, baseUrl, token, url(path), startMs, stop() }.
 */
async function startServer(options = {}) {
  const started = Date.now();
  const test = !!options.test;
  const token = test
    ? ''
    : (options.token ?? crypto.randomBytes(24).toString('hex'));
  const port = options.port ?? (await freePort());
  const args = [
    path.join(APP_DIR, 'server.py'),
    `--port=${port}`,
    `--root-dir=${path.resolve(options.rootDir ?? REPO)}`
  ];
  if (options.dataPrefix) {
    args.push(`--data-prefix=${path.resolve(options.dataPrefix)}`);
  }
  if (options.stateDir) {
    args.push(`--state-dir=${path.resolve(options.stateDir)}`);
  }
  if (test) {
    args.push('--test');
  }
  const env = { ...process.env, ...(options.env || {}) };
  if (!test) {
    // Through the environment, not argv, so `ps` does not show it; server.py
    // removes it from the environment its kernels inherit.
    env.CLUSTER_BRIDGE_LAB_TOKEN = token;
  }
  let stdio = ['ignore', 'inherit', 'inherit'];
  let logFd = null;
  if (options.logFile) {
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    logFd = fs.openSync(options.logFile, 'a');
    stdio = ['ignore', logFd, logFd];
  }
  const child = spawn(PYTHON, args, { cwd: REPO, env, stdio, detached: true });
  if (logFd !== null) {
    fs.closeSync(logFd);
  }
  let exited = null;
  const exitPromise = new Promise(resolve =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    })
  );

  const baseUrl = `http://127.0.0.1:${port}`;
  const headers = token ? { Authorization: `token ${token}` } : {};
  const deadline = Date.now() + (options.timeoutMs ?? 60000);
  let status = 0;
  while (Date.now() < deadline && exited === null) {
    status = await get(`${baseUrl}/lab`, headers);
    if (status === 200) {
      break;
    }
    await new Promise(r => setTimeout(r, 100));
  }
  if (status !== 200) {
    const why =
      exited !== null
        ? `server exited (${JSON.stringify(exited)})`
        : `no answer from ${baseUrl}/lab within the timeout (last status ${status})`;
    child.kill('SIGKILL');
    const log = options.logFile ? `; log: ${options.logFile}` : '';
    throw new Error(`JupyterLab server did not start: ${why}${log}`);
  }

  async function stop() {
    if (exited !== null) {
      return;
    }
    // SIGTERM lets jupyter_server shut its kernels down.
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10000);
    await exitPromise;
    clearTimeout(timer);
  }

  return {
    port,
    baseUrl,
    token,
    pid: child.pid,
    startMs: Date.now() - started,
    url: (p = '/lab') =>
      `${baseUrl}${p}${token ? `${p.includes('?') ? '&' : '?'}token=${token}` : ''}`,
    exited: exitPromise,
    stop
  };
}

module.exports = { startServer, freePort, REPO };
