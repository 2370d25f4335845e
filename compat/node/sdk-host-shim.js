'use strict';
// Juspay's Node SDK 1.0.0 builds its request options as
// { host: url.host, port: url.port, ... }. URL.host carries the port
// ("127.0.0.1:8443"), and Node resolves that whole string as a host name, so
// the SDK reaches only servers on the default port 443. Node prefers
// `hostname` over `host`; this sets it from `host`, so any port works.
//
// Load it once, before the SDK:   require('./sdk-host-shim');
// It changes nothing for requests that already carry a hostname.
const https = require('node:https');

const request = https.request;
https.request = function requestWithHostname(options, ...rest) {
  if (options && typeof options === 'object' && !(options instanceof URL) &&
      options.hostname == null && typeof options.host === 'string' && options.host.includes(':')) {
    const u = new URL(`https://${options.host}`);
    options = {
      ...options,
      hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'), // IPv6 literals go without brackets
      port: options.port || u.port || 443,
    };
  }
  return request.call(this, options, ...rest);
};
