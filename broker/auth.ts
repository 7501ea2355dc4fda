import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { validateDeviceId } from '../bridge/decode/topics.js'
import type { Logger } from '../common/logger.js'
import { HashGate } from './hash-gate.js'
import type { BrokerMetrics } from './metrics.js'
import type { RefusalReason } from './refusals.js'
import type { Account, Registry, Role } from './registry.js'
import { DUMMY_HASH, verifySecret } from './secrets.js'

export interface Identity {
  id: string
  role: Role
  /** How it was established: a registry secret, an in-process account, or none. */
  via: 'registry' | 'internal' | 'anonymous'
}

export type AuthResult =
  | { ok: true; identity: Identity }
  | { ok: false; returnCode: 2 | 3 | 4 | 5; reason: RefusalReason }

export interface AuthOptions {
  allowAnonymous: boolean
  /** Longest id (username and client id), in characters. */
  maxIdLength: number
  registry: Registry | undefined
  /** Service accounts that live only in this process: id → secret. */
  internal: ReadonlyMap<string, string>
}

// Secrets the CLI makes are 43 characters; anything far longer is not one.
const MAX_SECRET_BYTES = 256
const CACHE_ENTRIES = 50_000
// scrypt uses 16 MiB per check; two at a time match this machine's cores and
// leave the thread pool's other two threads for pg and dns.
const HASH_CONCURRENCY = 2
const HASH_MAX_WAITING = 200

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * CONNECT authentication. A secret that verified once is remembered as an
 * HMAC under a key that lives only in this process, next to the stored hash
 * it verified against: a reconnect with the same secret costs one HMAC, and
 * a rotated or disabled account is seen at its next connect because the row
 * is read every time.
 */
export class Authenticator {
  private readonly cacheKey = randomBytes(32)
  private readonly cache = new Map<string, { secretHash: string; mac: Buffer }>()
  private readonly gate = new HashGate(HASH_CONCURRENCY, HASH_MAX_WAITING)

  constructor(
    private readonly opts: AuthOptions,
    private readonly metrics: BrokerMetrics,
    private readonly log: Logger,
  ) {}

  async check(clientId: string, username?: string, password?: Buffer): Promise<AuthResult> {
    if (!username && password === undefined) return this.anonymous(clientId)
    if (!username || !password || password.length === 0) return refuse(4, 'credentials_missing')
    if (password.length > MAX_SECRET_BYTES) return refuse(4, 'credentials_malformed')
    if (validateDeviceId(username, this.opts.maxIdLength)) return refuse(4, 'credentials_malformed')

    const secret = decode(password)
    if (secret === undefined) return refuse(4, 'credentials_malformed')

    // One client id per identity: another id would let a device take over
    // (and read) someone else's session [MQTT-3.1.4-2].
    if (clientId !== username) return refuse(2, 'client_id_mismatch')

    const internal = this.opts.internal.get(username)
    if (internal !== undefined) return this.checkInternal(username, password, internal)

    return this.checkRegistry(username, secret, password)
  }

  private async anonymous(clientId: string): Promise<AuthResult> {
    if (!this.opts.allowAnonymous) return refuse(5, 'anonymous')
    if (validateDeviceId(clientId, this.opts.maxIdLength)) return refuse(2, 'client_id_invalid')

    // A registered or internal id needs its secret even here: without one an
    // anonymous client could take that account's session and topics.
    if (this.opts.internal.has(clientId)) return refuse(5, 'anonymous')
    try {
      if (await this.opts.registry?.find(clientId)) return refuse(5, 'anonymous')
    } catch (err) {
      this.log.warn({ err }, 'registry lookup failed')
      return refuse(3, 'registry_unavailable')
    }

    this.metrics.auth.inc({ outcome: 'anonymous' })
    return { ok: true, identity: { id: clientId, role: 'device', via: 'anonymous' } }
  }

  private checkInternal(id: string, password: Buffer, secret: string): AuthResult {
    // Compare digests so the lengths match and the time does not depend on them.
    if (!timingSafeEqual(this.mac(password), this.mac(Buffer.from(secret)))) {
      return refuse(4, 'secret_wrong')
    }

    this.metrics.auth.inc({ outcome: 'internal' })
    return { ok: true, identity: { id, role: 'service', via: 'internal' } }
  }

  private async checkRegistry(id: string, secret: string, password: Buffer): Promise<AuthResult> {
    const registry = this.opts.registry
    if (!registry) return refuse(4, 'unknown_account')

    let account: Account | undefined
    try {
      account = await registry.find(id)
    } catch (err) {
      this.log.warn({ err }, 'registry lookup failed')
      return refuse(3, 'registry_unavailable')
    }

    const verified = await this.verify(id, secret, password, account)
    if (verified === 'busy') return refuse(3, 'auth_busy')
    if (!account) return refuse(4, 'unknown_account')
    if (!verified) return refuse(4, 'secret_wrong')
    if (!account.enabled) return refuse(5, 'account_disabled')

    registry.touch(account).catch((err) => this.log.warn({ err }, 'last_seen_at update failed'))
    return { ok: true, identity: { id, role: account.role, via: 'registry' } }
  }

  private async verify(
    id: string,
    secret: string,
    password: Buffer,
    account: Account | undefined,
  ): Promise<boolean | 'busy'> {
    const mac = this.mac(password)
    const cached = account && this.cache.get(id)

    if (cached && cached.secretHash === account.secretHash && timingSafeEqual(cached.mac, mac)) {
      this.metrics.auth.inc({ outcome: 'cached' })
      return true
    }

    // Unknown ids are hashed too, so the answer takes as long either way.
    const started = process.hrtime.bigint()
    const result = await this.gate.run(() =>
      verifySecret(secret, account?.secretHash ?? DUMMY_HASH),
    )
    this.metrics.hashSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9)

    if (!result) return 'busy'
    this.metrics.auth.inc({ outcome: 'hashed' })
    if (result.value && account) this.remember(id, account.secretHash, mac)
    return result.value
  }

  private remember(id: string, secretHash: string, mac: Buffer): void {
    this.cache.delete(id)
    if (this.cache.size >= CACHE_ENTRIES) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.set(id, { secretHash, mac })
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.cacheKey).update(data).digest()
  }
}

function refuse(returnCode: 2 | 3 | 4 | 5, reason: RefusalReason): AuthResult {
  return { ok: false, returnCode, reason }
}

function decode(password: Buffer): string | undefined {
  try {
    return utf8.decode(password)
  } catch {
    return undefined
  }
}
