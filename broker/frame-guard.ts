import type { TransformCallback } from 'node:stream'
import { Transform } from 'node:stream'
import type { RefusalReason } from './refusals.js'

// MQTT control packet type 1 is CONNECT, in the high nibble of byte one.
const CONNECT = 1

/**
 * Sits between a connection and the MQTT parser and reads only the fixed
 * headers: packet type and remaining length [MQTT-2.2.3]. A packet larger
 * than the limit is refused as soon as its length is known, before its body
 * is buffered anywhere; so is a first packet that is not CONNECT, and a
 * remaining length longer than four bytes.
 */
export class FrameGuard extends Transform {
  private state: 'type' | 'length' | 'body' = 'type'
  private first = true
  private length = 0
  private multiplier = 1
  private lengthBytes = 0
  private bodyLeft = 0
  private refused = false

  constructor(
    private readonly maxPacketBytes: number,
    private readonly onRefuse: (reason: RefusalReason) => void,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const reason = this.refused ? undefined : this.scan(chunk)

    if (reason) {
      // Nothing of a refused chunk, or after it, reaches the parser.
      this.refused = true
      this.onRefuse(reason)
    }

    done(null, this.refused ? undefined : chunk)
  }

  private scan(chunk: Buffer): RefusalReason | undefined {
    let i = 0

    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.bodyLeft, chunk.length - i)
        this.bodyLeft -= n
        i += n
        if (this.bodyLeft === 0) this.state = 'type'
        continue
      }

      const byte = chunk[i++] as number

      if (this.state === 'type') {
        if (this.first && byte >> 4 !== CONNECT) return 'first_packet_not_connect'
        this.first = false
        this.state = 'length'
        this.length = 0
        this.multiplier = 1
        this.lengthBytes = 0
        continue
      }

      this.length += (byte & 0x7f) * this.multiplier
      this.multiplier *= 128
      this.lengthBytes++

      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'malformed_packet'
        continue
      }

      const total = 1 + this.lengthBytes + this.length
      if (total > this.maxPacketBytes) return 'packet_too_large'

      this.bodyLeft = this.length
      this.state = this.length === 0 ? 'type' : 'body'
    }

    return undefined
  }
}
