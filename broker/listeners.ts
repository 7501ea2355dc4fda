import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo, Server, Socket } from 'node:net'
import { createServer as createTcpServer } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { TelemetryError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'

export type ListenerKind = 'tcp' | 'tls' | 'ws'

export interface ListenerOptions {
  host: string
  tcp?: { port: number }
  tls?: { port: number; certFile: string; keyFile: string }
  ws?: { port: number }
  /** Largest WebSocket message accepted; the MQTT packet limit applies inside too. */
  maxPacketBytes: number
}

export type Accept = (conn: Duplex, address: string, kind: ListenerKind) => void

export interface Listener {
  kind: ListenerKind
  port: number
  server: Server
}

/** Opens each configured listener; every accepted connection goes to `accept`. */
export async function openListeners(
  o: ListenerOptions,
  accept: Accept,
  log: Logger,
): Promise<Listener[]> {
  const opened: Listener[] = []
  const start = async (kind: ListenerKind, server: Server, port: number) => {
    server.on('error', (err) => log.error({ err, listener: kind }, 'broker listener failed'))
    server.listen(port, o.host)
    await once(server, 'listening')
    opened.push({ kind, server, port: (server.address() as AddressInfo).port })
  }

  try {
    // Nagle's algorithm held a small packet back until the previous one was
    // acknowledged, up to the peer's 40 ms delayed ACK: one QoS 1 publisher
    // to one subscriber topped out at 2.3k msg/s on loopback, 9.1k without.
    if (o.tcp) {
      const server = createTcpServer({ noDelay: true }, (s) => accept(s, addressOf(s), 'tcp'))
      await start('tcp', server, o.tcp.port)
    }

    if (o.tls) {
      const server = createTlsServer({ ...(await tlsFiles(o.tls)), noDelay: true })
      server.on('secureConnection', (s) => accept(s, addressOf(s), 'tls'))
      // A failed handshake is the client's problem, not the listener's.
      server.on('tlsClientError', (err) => log.debug({ err }, 'tls handshake failed'))
      await start('tls', server, o.tls.port)
    }

    if (o.ws) await start('ws', webSocketServer(o.maxPacketBytes, accept), o.ws.port)
  } catch (err) {
    await closeListeners(opened)
    throw err
  }

  return opened
}

export async function closeListeners(listeners: readonly Listener[]): Promise<void> {
  await Promise.all(
    listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))),
  )
}

function webSocketServer(maxPacketBytes: number, accept: Accept): Server {
  const http = createHttpServer((_req, res) => res.writeHead(426).end())
  // Browsers ask for the `mqtt` subprotocol [MQTT-6.0.0-3]; ws picks it.
  const wss = new WebSocketServer({ server: http, maxPayload: maxPacketBytes })

  wss.on('connection', (socket, req: IncomingMessage) => {
    const stream = createWebSocketStream(socket)
    stream.on('error', () => socket.terminate())
    accept(stream, addressOf(req.socket), 'ws')
  })

  return http
}

async function tlsFiles(t: { certFile: string; keyFile: string }) {
  try {
    const [cert, key] = await Promise.all([readFile(t.certFile), readFile(t.keyFile)])
    return { cert, key }
  } catch (err) {
    throw new TelemetryError(
      'CONFIG_INVALID',
      `BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE must be readable files, got ${JSON.stringify(t.certFile)} and ${JSON.stringify(t.keyFile)}`,
      { cause: err },
    )
  }
}

function addressOf(s: Socket): string {
  return s.remoteAddress ?? 'unknown'
}
