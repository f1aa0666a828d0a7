#!/usr/bin/env node
// `npm run start:app`: serves the embedded JupyterLab on a free port of
// 127.0.0.1 with a random token, opens examples/demo.ipynb, and prints the URL.
// Needs app/build (`npm run build:app`) and, for our extension and kernel,
// `cluster-bridge install --prefix .jupyter-data` (scripts/start.sh does both).
//
//   node app/serve.js [--root DIR] [--open PATH] [--data-prefix DIR]

const { startServer } = require('./launch');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main() {
  const server = await startServer({
    rootDir: option('--root', undefined),
    dataPrefix: option('--data-prefix', undefined)
  });
  const open = option('--open', 'examples/demo.ipynb');
  const url = server.url(`/lab/tree/${open}`);
  console.log(`JupyterLab: ${url}`);
  console.log(
    `(served in ${(server.startMs / 1000).toFixed(1)} s; Ctrl-C stops it)`
  );
  let stopping = false;
  const shutdown = async () => {
    if (stopping) {
      return;
    }
    stopping = true;
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  const { code } = await server.exited;
  process.exit(code ?? 1);
}

main().catch(err => {
  console.error(err.message || err);
  process.exit(1);
});
