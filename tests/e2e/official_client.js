// Drives the official Medable client (@medable/mdctl-api) against an OpenCortex server.
// Input: the JSON in OC_E2E_CONFIG. Output: one JSON document on stdout with what each mode saw.
'use strict'

const { Client } = require('@medable/mdctl-api')
const Fault = require('@medable/mdctl-core/fault')

const config = JSON.parse(process.env.OC_E2E_CONFIG)
const environment = `${config.endpoint}/${config.org}`
const requestOptions = { proxy: false }

function client(credentials, extra = {}) {
  return new Client(Object.assign({ environment, credentials, requestOptions, sessions: true }, extra))
}

async function outcome(promise) {
  try {
    return { ok: true, value: await promise }
  } catch (err) {
    if (err instanceof Fault) {
      return { ok: false, fault: { code: err.code, errCode: err.errCode, statusCode: err.statusCode } }
    }
    return { ok: false, error: String(err && err.stack || err) }
  }
}

async function main() {
  const results = {}

  // 1. Password login, a session call, status, logout, and a call after logout.
  const password = client({ type: 'password', username: config.email, password: config.password, apiKey: config.sessionKey })
  results.password = {
    login: await outcome(password.post('/accounts/login', { email: config.email, password: config.password })),
    me: await outcome(password.get('/accounts/me')),
    name: await outcome(password.get('/accounts/me/name')),
    status: await outcome(password.get('/accounts/status', { query: { 'paths[]': '_id' } }))
  }

  // 1b. The Export API through the client's generic calls: create, list and filter, update,
  // property paths, and the faults it must recognise as faults.
  const created = await outcome(password.post('/exports', {
    label: 'Client export', objects: 'c_patients', format: 'text/csv', paths: ['c_number']
  }))
  const id = created.ok ? created.value._id : '000000000000000000000000'
  results.exports = {
    created,
    listed: await outcome(password.get('/exports', { query: { where: JSON.stringify({ label: 'Client export' }), limit: 10, 'paths[]': 'label' } })),
    filteredOut: await outcome(password.get('/exports', { query: { where: JSON.stringify({ objects: 'c_sites' }) } })),
    patched: await outcome(password.patch(`/exports/${id}`, [{ op: 'set', path: 'label', value: 'Renamed by client' }])),
    put: await outcome(password.put(`/exports/${id}`, { description: 'Described by client' })),
    label: await outcome(password.get(`/exports/${id}/label`)),
    docs: await outcome(password.get(`/exports/${id}/stats/docs/count`)),
    refused: await outcome(password.put(`/exports/${id}`, { format: 'application/json' })),
    unknownArgument: await outcome(password.get('/exports', { query: { bogus: 1 } }))
  }
  results.password.logout = await outcome(password.post('/accounts/me/logout', {}))
  results.password.afterLogout = await outcome(password.get('/accounts/me'))

  // 2. Signed requests: the app's own principal, then an overridden principal.
  const signed = client({ type: 'signature', apiKey: config.signingKey, apiSecret: config.signingSecret })
  results.signature = {
    me: await outcome(signed.get('/accounts/me')),
    list: await outcome(signed.get('/accounts', { query: { limit: 1 } })),
    asPrincipal: await outcome(signed.get('/accounts/me', { principal: config.otherAccountId }))
  }

  // 3. A bearer token issued by `opencortex token create`.
  const token = client({ type: 'token', token: config.token })
  results.token = { me: await outcome(token.get('/accounts/me')) }

  // 4. The right key with a wrong secret is refused.
  const wrong = client({ type: 'signature', apiKey: config.signingKey, apiSecret: 'x'.repeat(64) })
  results.wrongSecret = { me: await outcome(wrong.get('/accounts/me')) }

  process.stdout.write(JSON.stringify(results))
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err))
  process.exit(1)
})
