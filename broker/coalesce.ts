import { type Duplex, Writable } from 'node:stream'

/**
 * The writable side of a TCP or TLS client connection: what Aedes writes
 * within one turn of the event loop leaves the socket in one system call.
 *
 * Aedes writes every packet on its own, each delivery from a setImmediate
 * of its own, and mqtt-packet's cork only spans one packet. Under load the
 * broker made a system call per PUBACK to a device and per PUBLISH to the
 * bridge: a fifth of its CPU. Here the socket is corked at the first write
 * of a turn and uncorked at the next, so a burst of packets shares a write
 * while a lone packet waits one turn of the loop at most.
 */
export function coalescingWriter(socket: Duplex): Writable {
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }

  const writer = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!corked) {
        corked = true
        socket.cork()
        setImmediate(uncork)
      }
      if (socket.write(chunk)) done()
      else socket.once('drain', () => done())
    },
    final(done) {
      socket.end(() => done())
    },
    destroy(err, done) {
      // Aedes destroys a refused connection right after writing its CONNACK:
      // what is corked must reach the socket first, as it would uncorked.
      if (corked) uncork()
      socket.destroy(err ?? undefined)
      done(err)
    },
  })

  // The connection lives as long as the socket: when the peer goes, Aedes
  // must see this side close too, or it keeps the client as connected and
  // delivers its messages into a socket that is gone.
  socket.once('error', (err) => writer.destroy(err))
  socket.once('close', () => writer.destroy())
  return writer
}
