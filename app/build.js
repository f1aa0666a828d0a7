#!/usr/bin/env node
// Builds the embedded JupyterLab into app/build (`npm run build:app`).
//
// Skips the build when app/build/.stamp holds the hash of the app sources
// and package-lock.json (so the second run is instant). `--force` rebuilds.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const appDir = __dirname;
const repoRoot = path.resolve(appDir, '..');
const buildDir = path.join(appDir, 'build');
const stampFile = path.join(buildDir, '.stamp');

function listFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap(e => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        return e.name === 'build' || e.name === 'node_modules'
          ? []
          : listFiles(p);
      }
      return [p];
    })
    .sort();
}

function sourceHash() {
  const hash = crypto.createHash('sha256');
  const inputs = [
    ...listFiles(appDir).filter(f => !f.endsWith('.py') && !f.endsWith('.md')),
    path.join(repoRoot, 'package-lock.json')
  ];
  for (const file of inputs) {
    hash.update(path.relative(repoRoot, file));
    hash.update('\0');
    hash.update(fs.readFileSync(file));
    hash.update('\0');
  }
  hash.update(process.env.APP_BUILD_MODE || 'development');
  return hash.digest('hex');
}

function upToDate(hash) {
  try {
    return (
      fs.readFileSync(stampFile, 'utf8').trim() === hash &&
      fs.existsSync(path.join(buildDir, 'templates', 'index.html'))
    );
  } catch {
    return false;
  }
}

function swapInto(tmpDir, hash) {
  if (upToDate(hash)) {
    // Another build of the same sources swapped in first.
    fs.rmSync(tmpDir, { recursive: true, force: true });
    return;
  }
  // Two renames: a running server misses app/build for microseconds only.
  const oldDir = `${tmpDir}-old`;
  try {
    fs.renameSync(buildDir, oldDir);
  } catch {
    // no previous build
  }
  fs.renameSync(tmpDir, buildDir);
  fs.rmSync(oldDir, { recursive: true, force: true });
}

function main() {
  const force = process.argv.includes('--force');
  const hash = sourceHash();
  if (!force && upToDate(hash)) {
    console.log('build:app: app/build is up to date');
    return;
  }
  const started = Date.now();
  // Build next to app/build and swap at the end, so a server that is running
  // keeps a complete app/build while the new one compiles.
  // Per process: two test runs may build at once; the last swap wins.
  const tmpDir = path.join(repoRoot, '.cache', `app-build-tmp-${process.pid}`);
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(tmpDir), { recursive: true });
  process.env.APP_BUILD_DIR = tmpDir;
  const webpack = require('webpack');
  const config = require('./webpack.config.js');
  const compiler = webpack(config);
  compiler.run((err, stats) => {
    // close() also persists webpack's filesystem cache (.cache/webpack-app).
    compiler.close(closeErr => {
      if (err || closeErr) {
        console.error((err || closeErr).stack || err || closeErr);
        process.exit(1);
      }
      const text = stats.toString('errors-warnings');
      if (text.trim()) {
        console.log(text);
      }
      if (stats.hasErrors()) {
        console.error('build:app: webpack failed');
        process.exit(1);
      }
      fs.writeFileSync(path.join(tmpDir, '.stamp'), `${hash}\n`);
      swapInto(tmpDir, hash);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`build:app: built app/build in ${secs} s`);
    });
  });
}

main();
