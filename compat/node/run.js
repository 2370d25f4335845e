'use strict';
// Runs the SDK workout in test/ against a real customerd over TLS:
//   1. builds customerd (or uses $CUSTOMERD_BIN),
//   2. makes a development certificate with `customerd cert create`,
//   3. creates two merchants with `customerd merchant create`,
//   4. starts `customerd serve --tls-cert … --tls-key …` on a free port with a
//      temporary SQLite database,
//   5. runs `node --test` with NODE_EXTRA_CA_CERTS as `cert create` printed it.
// The exit code is the test run's.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const repoRoot = path.resolve(__dirname, '..', '..');

function customerd(bin, args) {
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

// waitForListening resolves with the address of the server's "listening" log
// line and collects everything it writes to stderr into log.
function waitForListening(server, log, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('customerd did not start listening in time')), timeoutMs);
    let buf = '';
    server.stderr.setEncoding('utf8');
    server.stderr.on('data', (chunk) => {
      log.push(chunk);
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const rec = JSON.parse(line);
          if (rec.msg === 'listening') {
            clearTimeout(timer);
            resolve(rec.addr);
          }
        } catch { /* not a log record */ }
      }
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`customerd exited with ${code} before listening`));
    });
  });
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'customerd-compat-'));
  let server;
  const serverLog = [];
  try {
    let bin = process.env.CUSTOMERD_BIN;
    if (!bin) {
      bin = path.join(tmp, 'customerd');
      execFileSync('go', ['build', '-o', bin, './cmd/customerd'], { cwd: repoRoot, stdio: 'inherit' });
    }
    bin = path.resolve(bin);

    const certOut = customerd(bin, ['cert', 'create', '--host', 'localhost,127.0.0.1', '--out', tmp]);
    const caLine = /NODE_EXTRA_CA_CERTS=(\S+)/.exec(certOut);
    if (!caLine) throw new Error(`cert create printed no NODE_EXTRA_CA_CERTS line:\n${certOut}`);

    const db = `sqlite:${path.join(tmp, 'customerd.db')}`;
    const apiKey = customerd(bin, ['merchant', 'create', 'acme', '--db', db]).trim();
    const otherKey = customerd(bin, ['merchant', 'create', 'globex', '--db', db]).trim();

    server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--db', db,
      '--tls-cert', path.join(tmp, 'customerd.crt'), '--tls-key', path.join(tmp, 'customerd.key')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    const addr = await waitForListening(server, serverLog, 30000);
    console.log(`customerd is serving https://${addr}`);

    const tests = spawn(process.execPath, ['--test', path.join('test', 'customer.test.js')], {
      cwd: __dirname, // the SDK reads package.json from the working directory
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: caLine[1],
        COMPAT_BASE_URL: `https://${addr}`,
        COMPAT_MERCHANT_ID: 'acme',
        COMPAT_API_KEY: apiKey,
        COMPAT_OTHER_MERCHANT_ID: 'globex',
        COMPAT_OTHER_API_KEY: otherKey,
      },
    });
    const code = await exited(tests);
    if (code !== 0) {
      console.error('--- customerd log ---\n' + serverLog.join(''));
    }
    return code === null ? 1 : code;
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await exited(server);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
