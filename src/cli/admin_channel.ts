import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import type { AdminClient } from '../generated/keybroker/v1/Admin.js'
import { loadBrokerProto } from '../proto/load.js'
import type { ConnectOptions } from './commands/client.js'
import { CliExit } from './common.js'

/** How long a command waits for the broker to answer when `--timeout` is not given. */
export const DEFAULT_TIMEOUT_SECONDS = 10

/** Raw grpc-js credentials for the Admin service (the SDK covers only the Broker service). */
export function brokerChannelCredentials(opts: ConnectOptions): grpc.ChannelCredentials {
  const read = (file: string) => {
    try {
      return readFileSync(file)
    } catch (err) {
      throw new CliExit(`cannot read ${file}: ${(err as Error).message}`)
    }
  }
  if (Boolean(opts.cert) !== Boolean(opts.key)) throw new CliExit('--cert and --key go together')
  let creds = grpc.credentials.createSsl(
    read(opts.ca),
    opts.key ? read(opts.key) : null,
    opts.cert ? read(opts.cert) : null,
  )
  if (opts.tokenFile) {
    const file = opts.tokenFile
    creds = grpc.credentials.combineChannelCredentials(
      creds,
      grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const md = new grpc.Metadata()
        md.set('authorization', `Bearer ${read(file).toString('utf8').trim()}`)
        callback(null, md)
      }),
    )
  }
  return creds
}

/**
 * Resolve once the channel to `address` is connected, or fail with a one-line CliExit after
 * `timeoutSeconds`. The timer is ref'd on purpose: grpc-js's own reconnect timers are not, so
 * without it a command waiting on a refused address could end with exit code 0 and no output.
 */
export function whenConnected(client: grpc.Client, address: string, timeoutSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (detail: string) => reject(noAnswer(address, `${detail} within ${timeoutSeconds} s`))
    const guard = setTimeout(() => fail('no connection'), timeoutSeconds * 1000 + 1_000)
    client.waitForReady(Date.now() + timeoutSeconds * 1000, (err) => {
      clearTimeout(guard)
      if (err) fail('no connection')
      else resolve()
    })
  })
}

/**
 * A failed raw gRPC call as the CLI prints it: one line, the status name and the broker's message;
 * when no broker answered at all (no `keybroker-error-code` trailer), the address it tried.
 */
export function callFailed(err: grpc.ServiceError, address?: string): CliExit {
  const fromBroker = err.metadata?.get('keybroker-error-code').length > 0
  const noBroker = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED
  if (address && noBroker && !fromBroker) return noAnswer(address, err.details || err.message)
  const name = grpc.status[err.code] ?? String(err.code)
  return new CliExit(`keybroker: ${name}: ${oneLine(err.details || err.message)}`)
}

function noAnswer(address: string, detail: string): CliExit {
  return new CliExit(`keybroker: UNAVAILABLE: no answer from the broker at ${address}: ${oneLine(detail)}`)
}

/** Messages end up in one stderr line, whatever grpc-js put in them. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

/** An Admin client for `--address` (with --ca and an admin --cert/--key or --token-file). */
export function adminClient(opts: ConnectOptions): AdminClient {
  const proto = loadBrokerProto()
  // admin commands talk to one broker: the first address given
  const address = (Array.isArray(opts.address) ? opts.address[0] : opts.address)?.split(',')[0]?.trim() ?? ''
  const client = new proto.keybroker.v1.Admin(address, brokerChannelCredentials({ ...opts, address }))
  clientAddresses.set(client, address)
  return client
}

const clientAddresses = new WeakMap<grpc.Client, string>()

/**
 * One unary Admin call; a failure becomes the CLI's message (status name and the broker's reason).
 * It first waits (DEFAULT_TIMEOUT_SECONDS) for a connection, so a broker that is down or never
 * answers ends the command with one line and exit 1, never a hang or a silent exit 0.
 */
export async function adminCall<Res>(client: AdminClient, method: string, request: object): Promise<Res> {
  const address = clientAddresses.get(client) ?? 'the broker'
  await whenConnected(client, address, DEFAULT_TIMEOUT_SECONDS)
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!.bind(client)
    fn(request, { deadline: Date.now() + 60_000 }, (err: grpc.ServiceError | null, res: Res) =>
      err ? reject(callFailed(err, address)) : resolve(res),
    )
  })
}
