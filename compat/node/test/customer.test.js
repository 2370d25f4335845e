'use strict';
// Juspay's Node SDK (expresscheckout-nodejs 1.0.0, unmodified) against a
// running customerd over TLS. run.js starts the server and sets:
//   COMPAT_BASE_URL                              https://127.0.0.1:PORT
//   COMPAT_MERCHANT_ID, COMPAT_API_KEY           a merchant and its key
//   COMPAT_OTHER_MERCHANT_ID, COMPAT_OTHER_API_KEY  a second merchant
//   NODE_EXTRA_CA_CERTS                          the certificate to trust
// Any customerd with two such merchants can be tested the same way.
require('../sdk-host-shim'); // the SDK reaches only port 443 without it
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Juspay, InvalidRequestError, AuthenticationError, APIError } = require('expresscheckout-nodejs');

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (run the suite with "npm test")`);
  return v;
};
const baseUrl = env('COMPAT_BASE_URL');
const merchantId = env('COMPAT_MERCHANT_ID');
const apiKey = env('COMPAT_API_KEY');
const other = { merchantId: env('COMPAT_OTHER_MERCHANT_ID'), apiKey: env('COMPAT_OTHER_API_KEY') };

// The default logger writes every request to the console and to
// logs/juspay-sdk.log; the tests keep quiet.
Juspay.customLogger = Juspay.silentLogger;
const juspay = new Juspay({ merchantId, apiKey, baseUrl });

// A run-unique suffix, so the suite can run twice against one database.
const run = crypto.randomBytes(4).toString('hex');
const ref = (name) => `${name}.${run}@example.com`;

const ID = /^cst_[a-z0-9]{16}$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/;
const TOKEN = /^tkn_[0-9a-f]{32}$/;
const parseTime = (s) => Date.parse(s.replace('+0000', 'Z'));

// rejection awaits a promise that must reject and returns the error.
async function rejection(promise) {
  try {
    const res = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(res)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err;
  }
}

function assertCustomer(c, want) {
  assert.match(c.id, ID);
  assert.equal(c.object, 'customer');
  assert.match(c.date_created, TIMESTAMP);
  assert.match(c.last_updated, TIMESTAMP);
  for (const [k, v] of Object.entries(want)) {
    assert.deepEqual(c[k], v, `field ${k}`);
  }
}

function assertHttp(res) {
  assert.equal(res.http.statusCode, 200);
  assert.equal(res.http.headers['content-type'], 'application/json');
  assert.equal(res.http.headers['x-jp-merchant-id'], merchantId);
  assert.match(res.http.headers['x-response-id'], /^[0-9a-f]{32}$/);
  assert.ok(res.http.headers['x-request-id']);
}

describe('customer.create', () => {
  test('without options: the customer, with defaults and no juspay key', async () => {
    const res = await juspay.customer.create({
      object_reference_id: ref('jon'),
      mobile_number: '99887766',
      email_address: 'jon@example.com',
      first_name: 'Jon',
      last_name: 'Snow',
    });
    assertHttp(res);
    assertCustomer(res, {
      object_reference_id: ref('jon'),
      mobile_number: '99887766',
      email_address: 'jon@example.com',
      first_name: 'Jon',
      last_name: 'Snow',
      mobile_country_code: '91', // Juspay's default
    });
    assert.equal(res.date_created, res.last_updated);
    assert.ok(!('juspay' in res), 'juspay must be absent without the option');
    const age = Date.now() - parseTime(res.date_created);
    assert.ok(age >= -2000 && age < 60000, `date_created ${res.date_created} is not now`);
  });

  test('only the required fields: optional ones are null', async () => {
    const res = await juspay.customer.create({ object_reference_id: ref('min'), mobile_number: '1' });
    assertCustomer(res, {
      object_reference_id: ref('min'), mobile_number: '1', mobile_country_code: '91',
      email_address: null, first_name: null, last_name: null,
    });
  });

  test('with options.get_client_auth_token: a token valid for 15 minutes', async () => {
    const res = await juspay.customer.create({
      object_reference_id: ref('token'),
      mobile_number: '99887766',
      mobile_country_code: '+65',
      'options.get_client_auth_token': true,
    });
    assertHttp(res);
    assertCustomer(res, { object_reference_id: ref('token'), mobile_country_code: '65' });
    assert.match(res.juspay.client_auth_token, TOKEN);
    assert.match(res.juspay.client_auth_token_expiry, TIMESTAMP);
    assert.equal(parseTime(res.juspay.client_auth_token_expiry) - parseTime(res.date_created), 15 * 60 * 1000);
  });

  test('values with a space and a plus travel as typed', async () => {
    const res = await juspay.customer.create({ object_reference_id: `jon snow+${run}`, mobile_number: '42' });
    assert.equal(res.object_reference_id, `jon snow+${run}`);
    const got = await juspay.customer.get(`jon snow+${run}`);
    assert.equal(got.id, res.id);
  });
});

describe('customer.get', () => {
  let created;
  const email = ref('get');
  test('setup', async () => {
    created = await juspay.customer.create({
      object_reference_id: email, mobile_number: '99887766', first_name: 'Arya',
    });
  });

  test('by id', async () => {
    const res = await juspay.customer.get(created.id);
    assertHttp(res);
    assertCustomer(res, {
      id: created.id, object_reference_id: email, mobile_number: '99887766', first_name: 'Arya',
      date_created: created.date_created, last_updated: created.last_updated,
    });
    assert.ok(!('juspay' in res));
  });

  test('by object_reference_id, an email: a raw "@" in the path', async () => {
    const res = await juspay.customer.get(email);
    assertHttp(res);
    assert.equal(res.id, created.id);
    assert.equal(res.object_reference_id, email);
  });

  test('by id with the token query: a fresh token each time', async () => {
    const a = await juspay.customer.get(created.id, { 'options.get_client_auth_token': true });
    const b = await juspay.customer.get(created.id, { 'options.get_client_auth_token': true });
    assert.equal(a.id, created.id);
    assert.match(a.juspay.client_auth_token, TOKEN);
    assert.match(b.juspay.client_auth_token, TOKEN);
    assert.notEqual(a.juspay.client_auth_token, b.juspay.client_auth_token);
    const ttl = parseTime(a.juspay.client_auth_token_expiry) - Date.now();
    assert.ok(ttl > 14 * 60 * 1000 && ttl <= 15 * 60 * 1000 + 2000, `expiry ${a.juspay.client_auth_token_expiry}`);
  });

  test('by reference with the token query', async () => {
    const res = await juspay.customer.get(email, { 'options.get_client_auth_token': true });
    assert.equal(res.id, created.id);
    assert.match(res.juspay.client_auth_token, TOKEN);
  });

  test('with the token option false: no juspay key', async () => {
    const res = await juspay.customer.get(email, { 'options.get_client_auth_token': false });
    assert.equal(res.id, created.id);
    assert.ok(!('juspay' in res));
  });

  test("another merchant's customer is not found", async () => {
    const err = await rejection(juspay.customer.get(email, undefined, other));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.error_code, 'object_not_found');
  });
});

describe('customer.update', () => {
  let created;
  const email = ref('update');
  test('setup', async () => {
    created = await juspay.customer.create({
      object_reference_id: email, mobile_number: '99887766',
      email_address: 'old@example.com', first_name: 'Sansa', last_name: 'Stark',
    });
  });

  test('partial, by id: only the fields sent change', async () => {
    const res = await juspay.customer.update(created.id, { first_name: 'Alayne', mobile_country_code: '44' });
    assertHttp(res);
    assertCustomer(res, {
      id: created.id, object_reference_id: email, date_created: created.date_created,
      first_name: 'Alayne', mobile_country_code: '44',
      last_name: 'Stark', email_address: 'old@example.com', mobile_number: '99887766',
    });
    assert.ok(parseTime(res.last_updated) >= parseTime(created.last_updated));
    assert.ok(!('juspay' in res));
  });

  test('partial, by reference (an email): persisted for later reads', async () => {
    const res = await juspay.customer.update(email, { mobile_number: '11223344', email_address: 'new@example.com' });
    assert.equal(res.id, created.id);
    const got = await juspay.customer.get(created.id);
    assertCustomer(got, {
      mobile_number: '11223344', email_address: 'new@example.com',
      first_name: 'Alayne', last_name: 'Stark', mobile_country_code: '44',
    });
  });

  test('an empty value clears an optional field', async () => {
    const res = await juspay.customer.update(email, { last_name: '' });
    assert.equal(res.last_name, null);
    assert.equal(res.first_name, 'Alayne');
  });

  test('object_reference_id cannot be changed', async () => {
    const res = await juspay.customer.update(created.id, { object_reference_id: 'changed', first_name: 'Sansa' });
    assert.equal(res.object_reference_id, email);
    assert.equal(res.first_name, 'Sansa');
  });

  test('the token option is ignored on update', async () => {
    const res = await juspay.customer.update(created.id, { 'options.get_client_auth_token': true });
    assert.ok(!('juspay' in res));
  });
});

describe('error mapping', () => {
  test('404: InvalidRequestError with object_not_found', async () => {
    for (const call of [
      () => juspay.customer.get(ref('nobody')),
      () => juspay.customer.get('cst_0000000000000000'),
      () => juspay.customer.update(ref('nobody'), { first_name: 'X' }),
    ]) {
      const err = await rejection(call());
      assert.ok(err instanceof InvalidRequestError, `got ${err && err.name}`);
      assert.equal(err.status, 'invalid_request_error');
      assert.equal(err.error_code, 'object_not_found');
      assert.equal(err.error_message, 'Cannot find what you are looking for');
      assert.equal(err.error_info.code, 'RESOURCE_NOT_FOUND');
    }
  });

  test('bad key: AuthenticationError with access_denied', async () => {
    const bad = new Juspay({ merchantId, apiKey: `cdk_${'0'.repeat(40)}`, baseUrl });
    for (const call of [
      () => bad.customer.get(ref('get')),
      () => bad.customer.create({ object_reference_id: ref('badkey'), mobile_number: '1' }),
      // A valid key with another merchant's x-merchantid.
      () => juspay.customer.get(ref('get'), undefined, { merchantId: other.merchantId }),
    ]) {
      const err = await rejection(call());
      assert.ok(err instanceof AuthenticationError, `got ${err && err.name}`);
      assert.equal(err.status, 'error');
      assert.equal(err.error_code, 'access_denied');
      assert.equal(err.error_info.code, 'UNAUTHORIZED');
    }
    // Nothing was created with the bad key.
    await rejection(juspay.customer.get(ref('badkey')));
  });

  test('duplicate reference: InvalidRequestError with unique', async () => {
    const body = { object_reference_id: ref('dup'), mobile_number: '99887766' };
    const first = await juspay.customer.create(body);
    const err = await rejection(juspay.customer.create({ ...body, mobile_number: '11111111' }));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.status, 'invalid_request_error');
    assert.equal(err.error_code, 'unique');
    assert.equal(err.error_message, 'Customer with given object reference id already exist for your account.');
    assert.equal(err.error_info.code, 'ALREADY_EXISTS');
    // Not an upsert: the first customer is untouched.
    const got = await juspay.customer.get(ref('dup'));
    assert.equal(got.id, first.id);
    assert.equal(got.mobile_number, '99887766');
    // Another merchant may reuse the reference.
    const theirs = await juspay.customer.create(body, other);
    assert.notEqual(theirs.id, first.id);
  });

  test('invalid field: InvalidRequestError naming the field', async () => {
    const err = await rejection(juspay.customer.create({
      object_reference_id: ref('invalid'), mobile_number: '99887766', email_address: '_jon@example.com',
    }));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.status, 'Invalid Request');
    assert.equal(err.error_code, 'Invalid Request');
    assert.equal(err.error_message, 'Wrong value in email_address');
    assert.equal(err.error_info.code, 'INVALID_INPUT');
    assert.deepEqual(err.error_info.fields, [{ field_name: 'email_address', reason: 'Invalid value.' }]);
  });

  test('missing field: InvalidRequestError with MISSING_MANDATORY_PARAMETER', async () => {
    const err = await rejection(juspay.customer.create({ object_reference_id: ref('missing') }));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.error_message, 'Mandatory fields are missing: mobile_number');
    assert.equal(err.error_info.code, 'MISSING_MANDATORY_PARAMETER');
  });

  test('invalid update: InvalidRequestError, and nothing changes', async () => {
    const c = await juspay.customer.create({ object_reference_id: ref('badupdate'), mobile_number: '99887766' });
    const err = await rejection(juspay.customer.update(c.id, { mobile_number: '+1 555', first_name: 'Ok' }));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.error_info.code, 'INVALID_INPUT');
    const got = await juspay.customer.get(c.id);
    assert.equal(got.mobile_number, '99887766');
    assert.equal(got.first_name, null);
  });

  test('errors are APIError subclasses', async () => {
    const err = await rejection(juspay.customer.get(ref('nobody')));
    assert.ok(err instanceof APIError);
  });
});

// Defects of the SDK that customerd users meet; see README.
describe('SDK defects', () => {
  test('a "/" in a reference splits the unescaped path: 404 not_found', async () => {
    await juspay.customer.create({ object_reference_id: `x/${run}`, mobile_number: '1' });
    const err = await rejection(juspay.customer.get(`x/${run}`));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.error_code, 'not_found');
    // Escaping it yourself works: %2F stays inside the id.
    const got = await juspay.customer.get(encodeURIComponent(`x/${run}`));
    assert.equal(got.object_reference_id, `x/${run}`);
  });

  test('null and undefined are sent as the strings "null" and "undefined": leave the key out', async () => {
    const c = await juspay.customer.create({ object_reference_id: ref('nulls'), mobile_number: '1', first_name: 'Bran' });
    const res = await juspay.customer.update(c.id, { first_name: null, last_name: undefined });
    assert.equal(res.first_name, 'null');
    assert.equal(res.last_name, 'undefined');
    // A required field is refused rather than stored.
    const err = await rejection(juspay.customer.update(c.id, { mobile_number: undefined }));
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.error_message, 'Wrong value in mobile_number');
  });
});
