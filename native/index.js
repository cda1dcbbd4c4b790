// The native action (native/action.yml): runs the same release binary the Docker action's
// image holds, on any runner, without Docker.
//
// 1. picks the binary of the runner's OS and architecture (RUNNER_OS / RUNNER_ARCH);
// 2. takes its SHA-256 from the release block that the release workflow wrote into
//    action.yml beside this file (no checksum, no run);
// 3. uses the copy in the runner's tool cache when it has that checksum, otherwise downloads it
//    from the release of this action (github.server_url, or the `binary-url` mirror), through
//    HTTPS_PROXY unless NO_PROXY says otherwise, and checks it before it is cached;
// 4. runs it with the step's environment (INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, ...),
//    its standard streams and exit code, exactly as the Docker action's entrypoint runs.
//
// Plain Node (https, crypto, child_process): no npm dependencies, nothing to install.
'use strict';

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const https = require('https');
const path = require('path');
const tls = require('tls');

const TOOL = 'aca-runner-action';
/** The platforms the release workflow builds, as `<os>-<arch>`. */
const BUILT = ['linux-x64', 'linux-arm64', 'macos-x64', 'macos-arm64', 'windows-x64'];
const MAX_REDIRECTS = 5;
const ATTEMPTS = 3;
const IDLE_TIMEOUT_MS = 60000;

class Refusal extends Error {}

/** A URL as the log may show it: no credentials, no query (signed download URLs carry tokens). */
function shown(url) {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '<unparsable URL>';
  }
}

function input(name) {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim();
}

function escapeData(text) {
  return String(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** `<os>-<arch>` of this runner, in the release's asset names. */
function platform(env = process.env) {
  const os = {
    linux: 'linux', macos: 'macos', darwin: 'macos', windows: 'windows', win32: 'windows',
  }[(env.RUNNER_OS || process.platform).toLowerCase()] || (env.RUNNER_OS || process.platform).toLowerCase();
  const arch = { x64: 'x64', arm64: 'arm64', x86: 'x86', ia32: 'x86', arm: 'arm' }[
    (env.RUNNER_ARCH || process.arch).toLowerCase()
  ] || (env.RUNNER_ARCH || process.arch).toLowerCase();
  return `${os}-${arch}`;
}

function assetName(plat) {
  return `${TOOL}-${plat}${plat.startsWith('windows-') ? '.exe' : ''}`;
}

/** The release block of action.yml: `# release-tag: vX.Y.Z`, `# sha256 <platform>: <hex>`. */
function readRelease(actionYml) {
  const text = fs.readFileSync(actionYml, 'utf8');
  const release = { tag: '', repository: '', sha256: {} };
  for (const line of text.split(/\r?\n/)) {
    let m = /^# release-tag: (\S+)$/.exec(line);
    if (m) release.tag = m[1];
    m = /^# release-repository: (\S+)$/.exec(line);
    if (m) release.repository = m[1];
    m = /^# sha256 ([a-z0-9-]+): ([0-9a-f]{64})$/.exec(line);
    if (m) release.sha256[m[1]] = m[2];
  }
  if (!release.tag) throw new Refusal(`${actionYml} has no "# release-tag:" line: this copy of the native action is damaged`);
  return release;
}

function downloadUrl(release, asset, env = process.env) {
  const mirror = input('binary-url');
  if (mirror) return `${mirror.replace(/\/+$/, '')}/${asset}`;
  const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
  // The repository the step took the action from (a fork, a GHES copy), else the one released.
  const repository = env.GITHUB_ACTION_REPOSITORY || release.repository;
  return `${server}/${repository}/releases/download/${release.tag}/${asset}`;
}

function noProxy(host, port, env = process.env) {
  const list = (env.NO_PROXY || env.no_proxy || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  host = host.toLowerCase().replace(/^\[|\]$/g, '');
  return list.some((entry) => {
    if (entry === '*') return true;
    let [name, entryPort] = entry.split(/:(?=\d+$)/);
    if (entryPort && entryPort !== String(port)) return false;
    name = name.replace(/^\*?\./, '');
    return host === name || host.endsWith(`.${name}`);
  });
}

function proxyFor(url, env = process.env) {
  const value = url.protocol === 'https:'
    ? env.HTTPS_PROXY || env.https_proxy
    : env.HTTP_PROXY || env.http_proxy;
  if (!value) return null;
  const port = url.port || (url.protocol === 'https:' ? 443 : 80);
  if (noProxy(url.hostname, port, env)) return null;
  return new URL(value.includes('://') ? value : `http://${value}`);
}

/** Trust anchors: Node's own, plus SSL_CERT_FILE (the binary's extra anchors) when set. */
function trustAnchors(env = process.env) {
  if (!env.SSL_CERT_FILE) return undefined;
  const extra = [env.SSL_CERT_FILE, env.NODE_EXTRA_CA_CERTS].filter(Boolean).map((f) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch (e) {
      throw new Refusal(`cannot read the trust anchors in ${f}: ${e.message}`);
    }
  });
  return [...tls.rootCertificates, ...extra];
}

/** Opens a socket to `url`'s host: directly, or through an HTTP CONNECT tunnel. */
function tunnel(url, proxy) {
  return new Promise((resolve, reject) => {
    const port = url.port || 443;
    const headers = { host: `${url.hostname}:${port}` };
    if (proxy.username) {
      const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers['proxy-authorization'] = `Basic ${Buffer.from(user).toString('base64')}`;
    }
    const lib = proxy.protocol === 'https:' ? https : http;
    const req = lib.request({
      host: proxy.hostname,
      port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: `${url.hostname}:${port}`,
      headers,
      timeout: IDLE_TIMEOUT_MS,
    });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`the proxy ${proxy.host} refused the tunnel to ${url.host}: HTTP ${res.statusCode}`));
      } else {
        resolve(socket);
      }
    });
    req.on('timeout', () => req.destroy(new Error(`the proxy ${proxy.host} did not answer`)));
    req.on('error', (e) => reject(new Error(`the proxy ${proxy.host}: ${e.message}`)));
    req.end();
  });
}

/** GETs `url` (following redirects), streaming the body into `file`; returns its SHA-256. */
async function download(url, file, env = process.env, redirects = 0) {
  const target = new URL(url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new Refusal(`cannot download ${shown(url)}: only https:// (or http://) URLs; check binary-url`);
  }
  const proxy = proxyFor(target, env);
  const ca = trustAnchors(env);
  const options = { method: 'GET', headers: { 'user-agent': `${TOOL}-native`, accept: 'application/octet-stream' }, timeout: IDLE_TIMEOUT_MS };
  if (ca) options.ca = ca;
  if (proxy && target.protocol === 'https:') {
    const socket = await tunnel(target, proxy);
    // SNI carries host names only.
    const servername = net.isIP(target.hostname) ? undefined : target.hostname;
    options.createConnection = () => tls.connect({ socket, servername, ca });
  } else if (proxy) {
    // Plain HTTP through a proxy: the absolute URL goes to the proxy.
    Object.assign(options, { host: proxy.hostname, port: proxy.port || 80, path: url });
  }
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = proxy && target.protocol === 'http:' ? lib.request(options) : lib.request(target, options);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.host} for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.on('response', (res) => {
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(new Refusal(`too many redirects from ${shown(url)}`));
          return;
        }
        const next = new URL(res.headers.location, target).toString();
        download(next, file, env, redirects + 1).then(resolve, reject);
        return;
      }
      if (res.statusCode !== 200) {
        res.resume();
        const err = new Error(`GET ${shown(url)}: HTTP ${res.statusCode}`);
        err.status = res.statusCode;
        reject(err);
        return;
      }
      const hash = crypto.createHash('sha256');
      const out = fs.createWriteStream(file, { mode: 0o755 });
      res.on('data', (chunk) => hash.update(chunk));
      res.on('error', reject);
      out.on('error', reject);
      out.on('finish', () => resolve(hash.digest('hex')));
      res.pipe(out);
    });
    req.end();
  });
}

async function downloadWithRetries(url, file, env) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await download(url, file, env);
    } catch (e) {
      const permanent = e instanceof Refusal || (e.status && e.status < 500 && e.status !== 429);
      if (permanent || attempt >= ATTEMPTS) {
        if (e.status === 404) {
          throw new Refusal(`${shown(url)} answers 404: no such release asset (a mirror given as binary-url must hold the release's assets under their own names)`);
        }
        throw e instanceof Refusal ? e : new Refusal(`cannot download the binary: ${e.message}. Check that this runner reaches ${new URL(url).host} (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE), or give binary-url a mirror it reaches`);
      }
      console.log(`download failed (${e.message}); retrying in ${attempt} s`);
      await new Promise((r) => setTimeout(r, attempt * 1000));
    }
  }
}

function sha256Of(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The verified binary: from the tool cache, or downloaded into it. */
async function binary(env = process.env) {
  const release = readRelease(path.join(__dirname, 'action.yml'));
  const plat = platform(env);
  if (!BUILT.includes(plat)) {
    throw new Refusal(`no release binary for this runner (${plat}): the native action runs on ${BUILT.join(', ')}; on other platforms use a runner of those`);
  }
  const expected = release.sha256[plat];
  if (!expected) {
    throw new Refusal(`this copy of the native action records no SHA-256 for ${plat} (release ${release.tag}): use a released version (uses: <owner>/<repo>/native@vX.Y.Z), whose action.yml the release workflow stamped`);
  }
  const asset = assetName(plat);
  const version = release.tag.replace(/^v/, '');
  const arch = plat.split('-')[1];
  const cacheRoot = env.RUNNER_TOOL_CACHE || path.join(require('os').tmpdir(), 'aca-runner-action-tool-cache');
  const dir = path.join(cacheRoot, TOOL, version, arch);
  const bin = path.join(dir, asset);
  const marker = `${dir}.complete`;
  if (fs.existsSync(marker) && fs.existsSync(bin)) {
    if (sha256Of(bin) === expected) {
      console.log(`${TOOL} ${release.tag} (${plat}) from the tool cache: ${bin}`);
      return bin;
    }
    console.log(`::warning::the cached ${bin} does not have the recorded SHA-256: downloading it again`);
  }
  const url = downloadUrl(release, asset, env);
  fs.mkdirSync(dir, { recursive: true });
  const partial = `${bin}.partial-${process.pid}`;
  const started = Date.now();
  let actual;
  try {
    actual = await downloadWithRetries(url, partial, env);
  } catch (e) {
    fs.rmSync(partial, { force: true });
    throw e;
  }
  if (actual !== expected) {
    fs.rmSync(partial, { force: true });
    throw new Refusal(`the binary from ${shown(url)} has SHA-256 ${actual}, but this action's release ${release.tag} recorded ${expected} for ${plat}: it was not run. A mirror must serve the release's own files`);
  }
  fs.chmodSync(partial, 0o755);
  fs.renameSync(partial, bin);
  fs.writeFileSync(marker, '');
  const size = (fs.statSync(bin).size / 1048576).toFixed(1);
  console.log(`${TOOL} ${release.tag} (${plat}): downloaded ${shown(url)} (${size} MiB, SHA-256 checked) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}

function run(bin) {
  const child = childProcess.spawn(bin, [], { stdio: 'inherit', env: process.env });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (e) => {
    console.log(`::error title=${TOOL} failed::${escapeData(`cannot start ${bin}: ${e.message}`)}`);
    process.exit(1);
  });
  child.on('exit', (code) => process.exit(code === null ? 1 : code));
}

async function main() {
  let bin;
  try {
    bin = await binary();
  } catch (e) {
    const message = e instanceof Refusal ? e.message : `cannot fetch the binary: ${e.message}`;
    console.log(`::error title=${TOOL} (native) failed::${escapeData(message)}`);
    process.exit(1);
  }
  run(bin);
}

if (require.main === module) {
  main();
}

// scripts/native-action.cjs reads the release block the way the action does.
module.exports = { readRelease };
