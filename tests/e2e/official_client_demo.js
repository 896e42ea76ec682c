// The official Medable client (@medable/mdctl-api) with the credentials `opencortex demo` prints,
// in each of its three modes: what a newcomer following the README would do.
// Input: the JSON in OC_E2E_CONFIG. Output: one JSON document on stdout, mode -> call -> outcome.
'use strict'

const { Client } = require('@medable/mdctl-api')
const Fault = require('@medable/mdctl-core/fault')

const config = JSON.parse(process.env.OC_E2E_CONFIG)
const environment = `${config.endpoint}/${config.org}`
const requestOptions = { proxy: false }

async function outcome(promise) {
  try {
    return { ok: true, value: await promise }
  } catch (err) {
    if (err instanceof Fault) {
      return { ok: false, fault: { code: err.code, errCode: err.errCode, reason: err.reason } }
    }
    return { ok: false, error: String(err && err.stack || err) }
  }
}

// The same reads and one export in every mode: the account, object definitions, instances, exports.
async function session(client, label) {
  const calls = {}
  calls.me = await outcome(client.get('/accounts/me'))
  calls.objects = await outcome(client.get('/objects'))
  calls.patients = await outcome(client.get('/c_patients', { query: { limit: 2, 'expand[]': 'c_site' } }))
  calls.created = await outcome(client.post('/exports', {
    label: `Official client, ${label}`,
    objects: 'c_patients',
    format: 'application/x-ndjson',
    where: JSON.stringify({ c_enrolled: { $lt: '2024-01-08T00:00:00.000Z' } })
  }))
  if (calls.created.ok) {
    calls.export = await outcome(client.get(`/exports/${calls.created.value._id}`))
  }
  calls.exports = await outcome(client.get('/exports', { query: { limit: 100 } }))
  return calls
}

async function main() {
  const results = {}

  const password = new Client({
    environment, requestOptions, sessions: true,
    credentials: { type: 'password', username: config.email, password: config.password, apiKey: config.apiKey }
  })
  const login = await outcome(password.post('/accounts/login', { email: config.email, password: config.password }))
  results.password = Object.assign({ login }, await session(password, 'password'))

  const signed = new Client({
    environment, requestOptions,
    credentials: { type: 'signature', apiKey: config.apiKey, apiSecret: config.apiSecret }
  })
  results.signature = await session(signed, 'signature')

  const token = new Client({ environment, requestOptions, credentials: { type: 'token', token: config.token } })
  results.token = await session(token, 'token')

  process.stdout.write(JSON.stringify(results))
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err))
  process.exit(1)
})
