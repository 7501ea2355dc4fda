import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../common/logger.js'
import type { SpooledBatch } from './spool-codec.js'
import { decodeBatch, encodeBatch } from './spool-codec.js'

interface Segment {
  name: string
  seq: number
  messages: number
  openedAtMs: number
  bytes: number
}

// {seq}-{messages}-{openedAtMs}.batch: enough to account for a segment
// without reading it, so start-up after a crash is a directory listing.
const SEGMENT = /^(\d{12})-(\d+)-(\d+)\.batch$/

/**
 * Batches on local disk, first in, first out, for when Postgres is down or
 * slower than intake. A segment is written to a temporary name, fsynced,
 * renamed and the directory fsynced, so after a crash each segment is either
 * whole or absent; only then may its messages be acknowledged.
 */
export class Spool {
  readonly #segments: Segment[] = []
  #nextSeq = 0
  #messages = 0
  #bytes = 0

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly log: Logger,
  ) {}

  /** Opens (creating) the directory and takes over segments a previous run left. */
  static async open(dir: string, maxBytes: number, log: Logger): Promise<Spool> {
    const spool = new Spool(dir, maxBytes, log)
    await mkdir(dir, { recursive: true })

    for (const name of (await readdir(dir)).sort()) {
      if (name.endsWith('.tmp')) {
        await rm(join(dir, name), { force: true })
        continue
      }
      const m = SEGMENT.exec(name)
      if (!m) continue
      const { size } = await stat(join(dir, name))
      spool.#add({
        name,
        seq: Number(m[1]),
        messages: Number(m[2]),
        openedAtMs: Number(m[3]),
        bytes: size,
      })
    }

    if (spool.#segments.length > 0) {
      log.warn(
        { dir, batches: spool.batches, messages: spool.messages, bytes: spool.bytes },
        'spool holds batches from a previous run; replaying them first',
      )
    }
    return spool
  }

  get batches(): number {
    return this.#segments.length
  }

  get messages(): number {
    return this.#messages
  }

  get bytes(): number {
    return this.#bytes
  }

  get oldestMs(): number | undefined {
    return this.#segments[0]?.openedAtMs
  }

  get isFull(): boolean {
    return this.#bytes >= this.maxBytes
  }

  /** Durably appends a batch; when this resolves it survives a crash. */
  async append(batch: SpooledBatch): Promise<void> {
    const bytes = encodeBatch(batch)
    const seq = this.#nextSeq++
    const name = `${String(seq).padStart(12, '0')}-${batch.outcomes.length}-${batch.openedAtMs}.batch`
    const tmp = join(this.dir, `${name}.tmp`)

    const file = await open(tmp, 'w')
    try {
      await file.writeFile(bytes)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(tmp, join(this.dir, name))
    await this.#syncDir()

    this.#add({
      name,
      seq,
      messages: batch.outcomes.length,
      openedAtMs: batch.openedAtMs,
      bytes: bytes.length,
    })
  }

  /** The oldest batch, or undefined. A segment that cannot be read is set aside. */
  async peek(): Promise<{ name: string; batch: SpooledBatch } | undefined> {
    for (let s = this.#segments[0]; s; s = this.#segments[0]) {
      try {
        return { name: s.name, batch: decodeBatch(await readFile(join(this.dir, s.name))) }
      } catch (err) {
        this.log.error({ err, segment: s.name }, 'unreadable spool segment moved to corrupt/')
        await mkdir(join(this.dir, 'corrupt'), { recursive: true })
        await rename(join(this.dir, s.name), join(this.dir, 'corrupt', s.name))
        this.#drop(s)
      }
    }
    return undefined
  }

  /** Forgets the oldest batch once it is committed. */
  async remove(name: string): Promise<void> {
    const s = this.#segments[0]
    if (s?.name !== name) throw new Error(`spool: ${name} is not the oldest segment`)
    await rm(join(this.dir, name), { force: true })
    this.#drop(s)
  }

  #add(s: Segment): void {
    this.#segments.push(s)
    this.#nextSeq = Math.max(this.#nextSeq, s.seq + 1)
    this.#messages += s.messages
    this.#bytes += s.bytes
  }

  #drop(s: Segment): void {
    this.#segments.shift()
    this.#messages -= s.messages
    this.#bytes -= s.bytes
  }

  async #syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }
}
