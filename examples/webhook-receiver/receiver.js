// A customerd webhook receiver with no dependencies (docs/webhooks.md).
// CUSTOMERD_WEBHOOK_SECRET=whsec_... PORT=4242 node receiver.js
const http = require('node:http'), crypto = require('node:crypto');
const secret = process.env.CUSTOMERD_WEBHOOK_SECRET, port = Number(process.env.PORT) || 4242;
if (!secret) { console.error('CUSTOMERD_WEBHOOK_SECRET is not set'); process.exit(1); }
function verified(header = '', body) { // as webhook.Verify: one t, any matching v1, 5 minutes
  const t = [], v1 = [];
  for (const pair of header.split(',')) {
    const i = pair.indexOf('='), k = pair.slice(0, i).trim(), v = pair.slice(i + 1).trim();
    if (i > 0 && k === 't') t.push(v); else if (i > 0 && k === 'v1') v1.push(Buffer.from(v.toLowerCase()));
  }
  if (t.length !== 1 || !/^\d+$/.test(t[0]) || Math.abs(Date.now() / 1000 - t[0]) > 300) return false;
  const want = Buffer.from(crypto.createHmac('sha256', secret).update(`${t[0]}.`).update(body).digest('hex'));
  return v1.some((got) => got.length === want.length && crypto.timingSafeEqual(got, want));
}
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c)).on('end', () => {
    const body = Buffer.concat(chunks); // the raw bytes: parse JSON only after verifying
    if (!verified(req.headers['customerd-signature'], body)) return res.writeHead(400).end('bad signature\n');
    let type; try { type = JSON.parse(body).type; } catch { type = '(not JSON)'; }
    console.log(`event ${req.headers['customerd-event-id']} ${type}`); // dedupe by this id
    res.writeHead(200).end('ok\n');
  });
}).listen(port, () => console.log(`listening on ${port}`));
