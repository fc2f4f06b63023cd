/** How to reach the database: built from config `storage:` by src/server (or the CLI). */
export type StorageOptions = SqliteStorageOptions | PostgresStorageOptions

export interface SqliteStorageOptions {
  driver: 'sqlite'
  /** The database file. */
  path: string
  /** How long a write waits on a lock (and the writer thread's commit deadline). */
  busyTimeoutMs: number
  readonly?: boolean
}

export interface PostgresStorageOptions {
  driver: 'postgres'
  /** postgres://user@host:port/db — a password in the URL is allowed but password_file is preferred. */
  url: string
  /** The password, read from `storage.password_file` by the caller. Never logged. */
  password?: string
  poolSize: number
  statementTimeoutMs: number
  /** CA bundle for verify-full TLS. Required for a non-loopback host; plaintext only on loopback or a Unix socket. */
  tlsCaFile?: string
  /** Connection attempt bound. */
  connectTimeoutMs?: number
}
