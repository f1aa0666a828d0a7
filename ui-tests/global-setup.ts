// Starts the embedded JupyterLab for the ui-tests on a free port, with a fresh
// root folder holding a copy of examples/, and stops it afterwards.
//
// Tests find it through environment variables (read them via helpers.ts):
//   CLUSTER_BRIDGE_LAB_URL   e.g. http://127.0.0.1:PORT (empty token)
//   CLUSTER_BRIDGE_LAB_ROOT  the server's root folder (write notebooks here)
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startServer } = require('../app/launch.js');

const REPO = path.resolve(__dirname, '..');
export const ARTIFACTS = path.join(__dirname, 'artifacts');

export default async function globalSetup(): Promise<() => Promise<void>> {
  // Builds the app unless app/build is up to date (a no-op then).
  execFileSync(process.execPath, [path.join(REPO, 'app', 'build.js')], {
    stdio: 'inherit'
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-bridge-ui-'));
  const root = path.join(tmp, 'root');
  fs.mkdirSync(root);
  fs.cpSync(path.join(REPO, 'examples'), path.join(root, 'examples'), {
    recursive: true
  });
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  const server = await startServer({
    test: true,
    rootDir: root,
    stateDir: path.join(tmp, 'state'),
    dataPrefix: process.env.CLUSTER_BRIDGE_DATA_PREFIX,
    logFile: path.join(ARTIFACTS, 'jupyter-server.log'),
    env: {
      // Keep the user's own Jupyter config and runtime files out of the way.
      JUPYTER_CONFIG_DIR: path.join(tmp, 'config'),
      JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime')
    }
  });
  process.env.CLUSTER_BRIDGE_LAB_URL = server.baseUrl;
  process.env.CLUSTER_BRIDGE_LAB_ROOT = root;
  console.log(
    `ui-tests: JupyterLab at ${server.baseUrl} (up in ${server.startMs} ms), root ${root}`
  );

  return async () => {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  };
}
