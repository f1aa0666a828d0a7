// Webpack 5 config of the embedded JupyterLab: a Module Federation HOST.
//
// Core @jupyterlab packages (app/extensions.json) are bundled; prebuilt
// labextensions (ours included) are loaded at runtime from the server's
// labextensions path and share the host's singletons through the
// 'default' share scope. Run through app/build.js (`npm run build:app`).

const fs = require('fs');
const path = require('path');
const webpack = require('webpack');
const { Build } = require('@jupyterlab/builder');
const baseConfig = require('@jupyterlab/builder/lib/webpack.config.base');
const { sharedConfig } = require('./shared');

const appDir = __dirname;
// APP_BUILD_DIR: build elsewhere (experiments) without disturbing app/build.
const buildDir = process.env.APP_BUILD_DIR || path.join(appDir, 'build');
const genDir = path.join(buildDir, 'gen');
const staticDir = path.join(buildDir, 'static');
const appConfig = JSON.parse(
  fs.readFileSync(path.join(appDir, 'extensions.json'), 'utf8')
);
const packageNames = [...appConfig.extensions, ...appConfig.mimeExtensions];

fs.mkdirSync(genDir, { recursive: true });

// Schemas and themes go to build/schemas and build/themes (served by
// jupyterlab_server); style.js imports every package's CSS.
const themeConfigs = Build.ensureAssets({
  packageNames,
  output: genDir,
  schemaOutput: buildDir,
  themeOutput: buildDir
});

// The list of bundled plugins, as lazy imports (like upstream's index.js
// template, without handlebars).
const loaders = list =>
  list
    .map(n => `  [${JSON.stringify(n)}, () => import(${JSON.stringify(n)})]`)
    .join(',\n');
fs.writeFileSync(
  path.join(genDir, 'plugins.js'),
  `// Generated from app/extensions.json. Do not edit.\n` +
    `export const extensions = [\n${loaders(appConfig.extensions)}\n];\n` +
    `export const mimeExtensions = [\n${loaders(appConfig.mimeExtensions)}\n];\n`
);

/**
 * Writes build/templates/index.html: the Jinja page that jupyterlab_server
 * renders, with the entry chunks' script tags.
 */
class IndexHtmlPlugin {
  apply(compiler) {
    compiler.hooks.afterEmit.tap('IndexHtmlPlugin', compilation => {
      const files = compilation.entrypoints.get('main').getFiles();
      const tags = files
        .filter(f => f.endsWith('.js'))
        .map(
          f =>
            `<script defer src="{{ page_config.fullStaticUrl | escape }}/${f}"></script>`
        )
        .join('\n    ');
      const source = fs.readFileSync(
        path.join(appDir, 'templates', 'index.html'),
        'utf8'
      );
      const outDir = path.join(buildDir, 'templates');
      fs.mkdirSync(outDir, { recursive: true });
      fs.writeFileSync(
        path.join(outDir, 'index.html'),
        source.replace('<!-- CLUSTER_BRIDGE_SCRIPTS -->', tags)
      );
    });
  }
}

const production = process.env.APP_BUILD_MODE === 'production';

// @jupyterlab/builder's base config (loaders for CSS, SVG, fonts; process
// shim) extended by hand: only module.rules, resolve, output and plugins mix.
const hostConfig = {
  ...baseConfig,
  mode: production ? 'production' : 'development',
  // No source maps: they double the build time on 2 cores.
  devtool: false,
  // Rebuilds after a package-lock change reuse unchanged modules
  // (APP_BUILD_CACHE=0 turns it off).
  cache:
    process.env.APP_BUILD_CACHE === '0'
      ? false
      : {
          type: 'filesystem',
          cacheDirectory: path.resolve(appDir, '..', '.cache', 'webpack-app'),
          buildDependencies: {
            config: [__filename, path.join(appDir, 'shared.js')]
          }
        },
  entry: { main: path.join(appDir, 'src', 'bootstrap.js') },
  output: {
    ...baseConfig.output,
    path: staticDir,
    publicPath: 'auto',
    filename: '[name].[contenthash].js',
    chunkFilename: '[name].[contenthash].js',
    assetModuleFilename: 'assets/[hash][ext][query]'
  },
  resolve: {
    ...baseConfig.resolve,
    alias: { 'cluster-bridge-app-generated': genDir }
  },
  module: {
    rules: [
      ...baseConfig.module.rules,
      // Many @jupyterlab/@lumino ESM files import without extensions.
      { test: /\.m?js$/, resolve: { fullySpecified: false } }
    ]
  },
  optimization: {
    minimize: production,
    splitChunks: {
      chunks: 'all',
      cacheGroups: {
        jlab_core: {
          test: /[\\/]node_modules[\\/]@(jupyterlab|lumino)[\\/]/,
          name: 'jlab_core'
        }
      }
    }
  },
  performance: { hints: false },
  stats: 'errors-warnings',
  plugins: [
    ...baseConfig.plugins,
    new webpack.container.ModuleFederationPlugin({
      library: {
        type: 'var',
        name: ['_JUPYTERLAB', 'CORE_LIBRARY_FEDERATION']
      },
      name: 'CORE_FEDERATION',
      shared: sharedConfig(packageNames)
    }),
    new IndexHtmlPlugin()
  ]
};

module.exports = [
  hostConfig,
  ...themeConfigs.map(c => ({ ...c, stats: 'errors-warnings' }))
];
