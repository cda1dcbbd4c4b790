#!/usr/bin/env node
// native/action.yml from action.yml: the same inputs and outputs, word for word, plus
// `binary-url`, and `runs: node24`; its release block (tag, repository, one SHA-256 per platform)
// is kept across regenerations and written only at release time.
//
//   node scripts/native-action.cjs            regenerate native/action.yml
//   node scripts/native-action.cjs --check    fail when native/action.yml is not what it would write
//   node scripts/native-action.cjs --release vX.Y.Z --repository OWNER/NAME --assets DIR
//        the release commit (.github/workflows/release.yml): action.yml's image becomes this
//        version's, and native/action.yml records the SHA-256 of every binary in DIR
//        (aca-runner-action-<os>-<arch>[.exe])
//   --root DIR   work on another checkout (tests stamp a copy)
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const root = opt('--root') || path.join(__dirname, '..');
const rootYml = path.join(root, 'action.yml');
const nativeYml = path.join(root, 'native', 'action.yml');

function fail(message) {
  console.error(`native-action: ${message}`);
  process.exit(1);
}

/** Lines of `text` from the top-level key `from:` up to (not including) the next top-level key. */
function section(lines, key) {
  const start = lines.indexOf(`${key}:`);
  if (start < 0) fail(`action.yml has no top-level "${key}:"`);
  let end = start + 1;
  while (end < lines.length && !/^[a-z]/.test(lines[end])) end++;
  return lines.slice(start, end).join('\n').replace(/\n+$/, '');
}

function releaseBlock(release) {
  const lines = [
    '# Release (written by the release workflow: node scripts/native-action.cjs --release; index.js',
    '# reads it and runs no binary whose SHA-256 is not recorded here):',
    `# release-tag: ${release.tag}`,
    `# release-repository: ${release.repository}`,
  ];
  for (const [plat, sha] of Object.entries(release.sha256).sort()) {
    lines.push(`# sha256 ${plat}: ${sha}`);
  }
  return lines.join('\n');
}

function currentRelease(rootText) {
  const image = /image: docker:\/\/ghcr\.io\/([^:\s]+):(\S+)/.exec(rootText);
  if (!image) fail('action.yml names no docker://ghcr.io/... image');
  const release = { tag: image[2], repository: image[1], sha256: {} };
  if (fs.existsSync(nativeYml)) {
    // The block as the action itself reads it.
    const stamped = require(path.join(root, 'native', 'index.js')).readRelease(nativeYml);
    return { ...release, ...Object.fromEntries(Object.entries(stamped).filter(([, v]) => v)) };
  }
  return release;
}

function generate(rootText, release) {
  const lines = rootText.split('\n');
  const branding = section(lines, 'branding');
  const inputs = section(lines, 'inputs');
  const outputs = section(lines, 'outputs');
  return `# GENERATED from ../action.yml by scripts/native-action.cjs: edit action.yml, then run
# \`node scripts/native-action.cjs\` (CI fails when this file is stale).
name: ACA runner action (native)
description: >-
  The same step as the root action without Docker, for runners that have none (the project's own
  Container Apps runners, macOS, Windows): downloads the release binary for the runner's OS and
  architecture, checks its SHA-256, caches it in the tool cache and runs it.
author: aca-runner-action developers
${branding}
${inputs}
  binary-url:
    description: "URL of a folder that mirrors this release's assets (air-gapped or GHES installations): the binary is fetched from <binary-url>/aca-runner-action-<os>-<arch>[.exe] instead of the release on github.server_url; its SHA-256 is checked all the same."
    required: false
${outputs}
runs:
  using: node24
  main: index.js
${releaseBlock(release)}
`;
}

let rootText = fs.readFileSync(rootYml, 'utf8');
const release = currentRelease(rootText);

if (args.includes('--release')) {
  const tag = opt('--release');
  const repository = opt('--repository');
  const assets = opt('--assets');
  if (!/^v\d+\.\d+\.\d+$/.test(tag || '')) fail('--release needs a version tag vX.Y.Z');
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository || '')) fail('--repository needs OWNER/NAME');
  if (!assets) fail('--assets needs the folder of the built binaries');
  release.tag = tag;
  release.repository = repository;
  release.sha256 = {};
  for (const name of fs.readdirSync(assets).sort()) {
    const m = /^aca-runner-action-([a-z]+-[a-z0-9]+)(\.exe)?$/.exec(name);
    if (!m) continue;
    release.sha256[m[1]] = crypto.createHash('sha256').update(fs.readFileSync(path.join(assets, name))).digest('hex');
  }
  if (!Object.keys(release.sha256).length) fail(`no aca-runner-action-<os>-<arch> binary in ${assets}`);
  rootText = rootText.replace(
    /image: docker:\/\/ghcr\.io\/\S+/,
    `image: docker://ghcr.io/${repository.toLowerCase()}:${tag}`,
  );
  fs.writeFileSync(rootYml, rootText);
}

const wanted = generate(rootText, release);
if (args.includes('--check')) {
  const have = fs.existsSync(nativeYml) ? fs.readFileSync(nativeYml, 'utf8') : '';
  if (have !== wanted) fail('native/action.yml is stale: run `node scripts/native-action.cjs` and commit it');
  console.log('native/action.yml matches action.yml');
} else {
  fs.mkdirSync(path.dirname(nativeYml), { recursive: true });
  fs.writeFileSync(nativeYml, wanted);
  console.log(`wrote ${path.relative(process.cwd(), nativeYml) || nativeYml} (release ${release.tag}, ${Object.keys(release.sha256).length} checksum(s))`);
}
