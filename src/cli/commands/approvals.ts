import type * as grpc from '@grpc/grpc-js'
import type { Command } from 'commander'
import { BrokerError } from '../../errors.js'
import type { AdminClient } from '../../generated/keybroker/v1/Admin.js'
import type { Approval__Output } from '../../generated/keybroker/v1/Approval.js'
import { loadBrokerProto } from '../../proto/load.js'
import { approvalToWire } from '../../server/approval_service.js'
import type { ApprovalState } from '../../storage/ports.js'
import { brokerChannelCredentials, callFailed } from '../admin_channel.js'
import { decideApprovalInFile, type LocalDecision } from '../approval_decide_local.js'
import { type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'
import { terminalSafe } from '../exchange_output.js'
import { openCliStorage } from '../storage_access.js'

function adminClient(opts: SourceOptions): AdminClient {
  if (!opts.ca) throw new CliExit('--address needs --ca (and an approver --cert/--key or --token-file)')
  const proto = loadBrokerProto()
  return new proto.keybroker.v1.Admin(
    opts.address!,
    brokerChannelCredentials({ ...opts, address: opts.address!, ca: opts.ca }),
  )
}

function call<Res>(client: AdminClient, method: string, request: object): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(client)
    fn(request, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, res: Res) =>
      err ? reject(callFailed(err)) : resolve(res),
    )
  })
}

function line(a: Approval__Output): string {
  const what = a.kind === 'issue' ? `${a.audience} [${a.scopes.join(' ')}]` : `secret ${a.secret_name}`
  const decided = a.approver ? ` by ${a.approver}${a.reason ? ` (${a.reason})` : ''}` : ''
  return terminalSafe(
    `${a.id}  ${a.state.padEnd(8)}  ${a.subject}  ${what}  expires ${new Date(Number(a.expires_at) * 1000).toISOString()}${decided}`,
  )
}

/**
 * `keybroker approvals approve|deny <id>` against the database (`--config` / `--db`): the decision is
 * recorded as the local operator; the requester's WaitForApproval on the running broker picks it up.
 */
async function decideInFile(opts: SourceOptions, decision: LocalDecision): Promise<void> {
  const storage = await openCliStorage(opts)
  try {
    const { row, exchangeId } = await decideApprovalInFile(storage, decision)
    process.stdout.write(
      `${line(approvalToWire(row) as Approval__Output)} (audit ${exchangeId}); ${
        row.state === 'approved'
          ? "the running broker hands the credential to the requester's WaitForApproval within a second"
          : 'the requester is told within a second'
      }\n`,
    )
  } catch (err) {
    if (err instanceof BrokerError) throw new CliExit(`keybroker: ${err.message}`)
    throw err
  } finally {
    await storage.close()
  }
}

/** `keybroker approvals list|approve|deny`: over --address (Admin service), or against the database file. */
export function registerApprovalCommands(program: Command): void {
  const approvals = program
    .command('approvals')
    .description('requests waiting for a person, and their decisions')
  withSourceOptions(
    approvals
      .command('list')
      .description('approvals, newest first')
      .option('--state <state>', 'pending, approved, denied, expired, issued')
      .option('--json', 'one JSON object per line'),
  ).action(async (opts: SourceOptions & { state?: string; json?: boolean }) => {
    let rows: Approval__Output[]
    if (opts.address) {
      const client = adminClient(opts)
      try {
        rows = (
          await call<{ approvals: Approval__Output[] }>(client, 'ListApprovals', {
            state: opts.state ?? '',
            limit: 100,
          })
        ).approvals
      } finally {
        client.close()
      }
    } else {
      const storage = await openCliStorage(opts)
      try {
        const stored = await storage.approvals.list({
          state: opts.state as ApprovalState | undefined,
          limit: 100,
        })
        rows = stored.map((r) => approvalToWire(r) as Approval__Output)
      } finally {
        await storage.close()
      }
    }
    for (const row of rows) process.stdout.write(`${opts.json ? JSON.stringify(row) : line(row)}\n`)
  })
  for (const verb of ['approve', 'deny'] as const) {
    withSourceOptions(
      approvals
        .command(`${verb} <id>`)
        .description(
          `${verb} a pending approval: over --address as an approver (role approver or admin, among its approvers); with --config/--db as the local operator, recorded in the database for the running broker to act on`,
        )
        .requiredOption('--reason <text>', 'why (recorded in the audit log and shown to the requester)'),
    ).action(async (id: string, opts: SourceOptions & { reason: string }) => {
      if (!opts.address) {
        if (!opts.config && !opts.db)
          throw new CliExit('give --address for a running broker, or --config / --db for its database')
        return decideInFile(opts, { approvalId: id, approve: verb === 'approve', reason: opts.reason })
      }
      const client = adminClient(opts)
      try {
        const res = await call<{ approval: Approval__Output; exchange_id: string }>(
          client,
          'DecideApproval',
          {
            approval_id: id,
            approve: verb === 'approve',
            reason: opts.reason,
          },
        )
        process.stdout.write(`${line(res.approval)} (audit ${res.exchange_id})\n`)
      } finally {
        client.close()
      }
    })
  }
}
