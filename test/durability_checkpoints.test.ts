import { copyFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'chai'
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose'
import { pino } from 'pino'
import { Agent, fetch } from 'undici'
import {
  CheckpointFile,
  type CheckpointPayload,
  openCheckpoint,
  type SignedCheckpoint,
  signCheckpoint,
} from '../src/audit/checkpoint/index.js'
import { loadConfig } from '../src/config/index.js'
import type { IssueTokenRequest } from '../src/generated/keybroker/v1/IssueTokenRequest.js'
import type { IssueTokenResponse__Output } from '../src/generated/keybroker/v1/IssueTokenResponse.js'
import { startBroker } from '../src/server/app.js'
import { BILLING, expectBrokerError, runCli, TestBroker, unary } from './fixtures/broker.js'
import type { CertFiles } from './fixtures/pki.js'

/** Checkpoints every 100 rows (the issue's test figure); the interval is long so only rows trigger. */
const CHECKPOINTS = 'storage: { checkpoint_every: { rows: 100, interval: 1h } }'

/** Issue `n` tokens, 16 at a time. */
async function issueMany(t: TestBroker, cert: CertFiles, n: number): Promise<void> {
  const issue = unary<IssueTokenRequest, IssueTokenResponse__Output>(t.brokerClient(cert), 'IssueToken')
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < n) await issue({ audience: 'payments-api', scopes: ['payments:read'] })
    }),
  )
}

async function checkpointsIn(file: string): Promise<Array<CheckpointPayload & { line: number }>> {
  const out = []
  for (const stored of await new CheckpointFile(file).readAll())
    out.push({ ...(await openCheckpoint(stored)), line: stored.line })
  return out
}

describe('durability: signed audit checkpoints outside the database', function () {
  this.timeout(120_000)

  describe('a running broker', () => {
    let t: TestBroker
    let billing: CertFiles
    let file: string

    before(async () => {
      t = await TestBroker.start({ extraYaml: CHECKPOINTS })
      billing = await t.pki.spiffe('billing', BILLING)
      file = join(t.dir, 'keybroker.checkpoints')
    })
    after(() => t.close())

    it('writes one at start, then one per 100 rows, to <db name>.checkpoints with mode 0600', async () => {
      const atStart = await checkpointsIn(file)
      expect(atStart, 'a checkpoint at start').to.have.length(1)
      await issueMany(t, billing, 250)
      const all = await checkpointsIn(file)
      expect(all.length, 'start + one per 100 rows').to.be.within(3, 5)
      expect(statSync(file).mode & 0o777).to.equal(0o600)
      const mine = (c: CheckpointPayload) => c.heads.find((h) => h.node_id === t.broker.nodeId)?.seq ?? 0
      const seqs = all.map(mine)
      expect(seqs, 'heads only move forward').to.deep.equal([...seqs].sort((a, b) => a - b))
      expect(seqs.at(-1)).to.be.at.least(200)
      const meta = await t.broker.storage.meta.get()
      expect(new Set(all.map((c) => c.log_id))).to.deep.equal(new Set([meta!.log_id]))
      // a checkpoint vouches for real rows: the row at its head has its hash
      const last = all.at(-1)!.heads.find((h) => h.node_id === t.broker.nodeId)!
      const [row] = await t.broker.storage.reader.chainRows(t.broker.nodeId, last.seq - 1, 1)
      expect(row?.hash).to.equal(last.hash)
    })

    it('GET /audit/checkpoint serves the newest as { checkpoint: <JWS kb-checkpoint+jwt>, key: <public JWK> }', async () => {
      const res = await fetch(`${t.httpUrl}/audit/checkpoint`, {
        dispatcher: new Agent({ connect: { ca: t.pki.ca.certPem } }),
      })
      expect(res.status).to.equal(200)
      const body = (await res.json()) as SignedCheckpoint
      expect(decodeProtectedHeader(body.checkpoint)).to.include({ typ: 'kb-checkpoint+jwt', alg: 'ES256' })
      expect(body.key).to.not.have.property('d') // the public half only
      const payload = await openCheckpoint(body)
      const fromFile = (await new CheckpointFile(file).latest())!
      expect(body.checkpoint).to.equal(fromFile.checkpoint)
      expect(Object.keys(payload).sort()).to.deep.equal(['heads', 'log_id', 'ts'])
      // the checkpoint key is neither published in JWKS nor a token signing key
      const jwks = JSON.parse(t.broker.keys.jwksText()) as { keys: Array<{ kid: string }> }
      expect(jwks.keys.map((k) => k.kid)).to.not.include(body.key.kid)
      // a tampered payload does not verify
      const [h, p, s] = body.checkpoint.split('.')
      const forged = Buffer.from(JSON.stringify({ ...payload, heads: [] })).toString('base64url')
      await openCheckpoint({ checkpoint: `${h}.${forged}.${s}`, key: body.key }).then(
        () => expect.fail('a forged checkpoint verified'),
        (err: Error) => expect(err.message).to.match(/signature does not verify/),
      )
      expect(p).to.be.a('string')
    })

    it('`audit verify` checks the heads against the newest checkpoint, from the file or from the URL', async () => {
      const local = await runCli(['audit', 'verify', '--config', t.configFile])
      expect(local.code, local.stderr).to.equal(0)
      expect(local.stdout).to.match(
        /^audit log OK: \d+ rows, chain intact\nmatches checkpoint .*keybroker\.checkpoints line \d+: log \w+/,
      )
      const remote = await runCli([
        'audit',
        'verify',
        '--db',
        join(t.dir, 'keybroker.db'),
        '--checkpoint',
        `${t.httpUrl.replace('127.0.0.1', 'localhost')}/audit/checkpoint`,
        '--ca',
        t.pki.caFile,
      ])
      expect(remote.code, remote.stderr).to.equal(0)
      expect(remote.stdout).to.match(/matches checkpoint https:\/\/localhost:\d+\/audit\/checkpoint: log /)
    })
  })

  it('a database swapped for an older copy of itself: verify fails naming the checkpoint it contradicts; start is refused', async () => {
    let t = await TestBroker.start({ extraYaml: CHECKPOINTS })
    const { dir, pki } = t
    const db = join(dir, 'keybroker.db')
    try {
      const billing = await pki.spiffe('billing', BILLING)
      await issueMany(t, billing, 20)
      await t.stop() // a clean stop folds the WAL into the file and writes a last checkpoint
      copyFileSync(db, join(dir, 'older.db'))
      t = await TestBroker.start({ extraYaml: CHECKPOINTS, reuse: { dir, pki } })
      await issueMany(t, billing, 150)
      await t.stop()
      const newest = (await checkpointsIn(join(dir, 'keybroker.checkpoints'))).at(-1)!

      copyFileSync(join(dir, 'older.db'), db)
      rmSync(`${db}-wal`, { force: true })
      rmSync(`${db}-shm`, { force: true })
      const verify = await runCli(['audit', 'verify', '--db', db])
      expect(verify.code, verify.stderr).to.equal(1)
      expect(verify.stderr).to.contain(
        `does NOT match checkpoint ${join(dir, 'keybroker.checkpoints')} line ${newest.line}`,
      )
      expect(verify.stderr).to.match(
        /in the database, but the checkpoint vouches for seq \d+: rows were lost or the database is an older copy/,
      )
      expect(verify.stderr).to.contain(`database: ${db}`)
      expect(verify.stderr).to.not.match(/\n\s+at /) // no stack trace

      const refused = await expectBrokerError(startBroker(loadConfig(t.configFile), { logger: quiet() }))
      expect(refused.code).to.equal('ERR_CONFIG')
      expect(refused.message).to.contain(
        `does not match checkpoint ${join(dir, 'keybroker.checkpoints')} line ${newest.line}`,
      )
      expect(refused.message).to.contain('keybroker serve --new-log')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('an emptied database file with the KEK and checkpoints still there: start refused, saying what is missing; --new-log starts over, audited', async () => {
    const t = await TestBroker.start({ extraYaml: CHECKPOINTS })
    const { dir } = t
    const db = join(dir, 'keybroker.db')
    try {
      await issueMany(t, await t.pki.spiffe('billing', BILLING), 5)
      const oldLog = (await t.broker.storage.meta.get())!.log_id
      await t.stop()
      writeFileSync(db, '') // `: > keybroker.db`
      rmSync(`${db}-wal`, { force: true })
      rmSync(`${db}-shm`, { force: true })

      const refused = await expectBrokerError(startBroker(loadConfig(t.configFile), { logger: quiet() }))
      expect(refused.code).to.equal('ERR_CONFIG')
      expect(refused.message).to.contain(`the audit database ${db} is empty (no schema), but checkpoint file`)
      expect(refused.message).to.contain(`says log ${oldLog} existed`)
      expect(refused.message).to.contain('keybroker serve --new-log')
      const probe = new Database(db, { readonly: true })
      expect(probe.prepare('SELECT name FROM sqlite_master').all(), 'no schema was created').to.deep.equal([])
      probe.close()

      // without the checkpoint file, the KEK alone still says a log existed
      rmSync(join(dir, 'keybroker.checkpoints'))
      const byKek = await expectBrokerError(startBroker(loadConfig(t.configFile), { logger: quiet() }))
      expect(byKek.message).to.contain('keys.kek_file already exists')

      const broker = await startBroker(loadConfig(t.configFile), { logger: quiet(), newLog: true })
      try {
        const [first] = await broker.log.tail(1)
        expect(first).to.include({ kind: 'log_reset', decision: 'allow', seq: 1 })
        expect(first!.detail).to.include({ previous_log_id: 'unknown' })
        expect((await broker.storage.meta.get())!.log_id).to.not.equal(oldLog)
      } finally {
        await broker.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a checkpoint file replaced by one signed with another key: start refused and verify fails, naming both keys', async () => {
    const t = await TestBroker.start({ extraYaml: CHECKPOINTS })
    const { dir } = t
    try {
      await t.stop()
      const file = join(dir, 'keybroker.checkpoints')
      const genuine = (await new CheckpointFile(file).latest())!
      const payload = await openCheckpoint(genuine)
      // a forger's own key vouching for exactly what the database holds
      const pair = await generateKeyPair('ES256', { extractable: true })
      const bare = await exportJWK(pair.publicKey)
      const kid = `kb-checkpoint-${await calculateJwkThumbprint(bare, 'sha256')}`
      const checkpoint = await signCheckpoint(payload, { kid, privateKey: pair.privateKey })
      writeFileSync(file, `${JSON.stringify({ checkpoint, key: { ...bare, kid } })}\n`)

      const refused = await expectBrokerError(startBroker(loadConfig(t.configFile), { logger: quiet() }))
      expect(refused.message).to.contain(
        `it is signed by checkpoint key ${kid}, but this log's checkpoint key is ${genuine.key.kid}`,
      )
      const verify = await runCli(['audit', 'verify', '--config', t.configFile])
      expect(verify.code, verify.stderr).to.equal(1)
      expect(verify.stderr).to.contain(`it is signed by checkpoint key ${kid}, but database`)
      expect(verify.stderr).to.contain(`records checkpoint key ${genuine.key.kid}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('--new-log names the old log id from the checkpoint; a database of another log is refused', async () => {
    const t = await TestBroker.start({ extraYaml: CHECKPOINTS })
    const { dir } = t
    const db = join(dir, 'keybroker.db')
    try {
      const oldLog = (await t.broker.storage.meta.get())!.log_id
      await t.stop()
      const oldCheckpoints = readFileSync(join(dir, 'keybroker.checkpoints'))
      rmSync(db)
      const broker = await startBroker(loadConfig(t.configFile), { logger: quiet(), newLog: true })
      const newLog = (await broker.storage.meta.get())!.log_id
      const [first] = await broker.log.tail(1)
      expect(first).to.include({ kind: 'log_reset' })
      expect(first!.detail).to.deep.include({ previous_log_id: oldLog, log_id: newLog })
      await broker.close()

      // the old log's checkpoints put back: this database is another log
      writeFileSync(join(dir, 'keybroker.checkpoints'), oldCheckpoints)
      const refused = await expectBrokerError(startBroker(loadConfig(t.configFile), { logger: quiet() }))
      expect(refused.message).to.contain(`the database is log ${newLog}, the checkpoint is of log ${oldLog}`)
      expect(refused.message).to.contain("point storage.checkpoint_file at this database's own checkpoints")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** startBroker logs to stdout by default; refusals are asserted on the error instead. */
function quiet() {
  return pino({ level: 'silent' })
}
