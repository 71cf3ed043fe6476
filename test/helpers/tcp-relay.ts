// A TCP relay on 127.0.0.1 in front of a real server (the test PostgreSQL cluster), for the one fault a
// real server cannot be made to produce on demand: a COMMIT that reaches the server while its answer
// never reaches the client (a connection cut at that instant), followed by a spell in which the server
// cannot be reached at all. The relay forwards bytes untouched; it only decides when to stop.
import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * The PostgreSQL simple-query message for `commit` exactly as node-postgres sends it
 * (`client.query('commit')`): 'Q', the int32 length (4 + 7), the text, a NUL.
 */
export const pgCommitMessage = Buffer.concat([
  Buffer.from('Q'),
  Buffer.from([0, 0, 0, 11]),
  Buffer.from('commit\0'),
])

export class TcpRelay {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #refusing = false
  #marker: Buffer | undefined
  #onCut: (() => void) | undefined
  /** Connections refused since the cut (the client asking again: txid_status, re-reads). */
  refused = 0
  port = 0

  constructor(readonly upstreamPort: number) {
    this.#server = createServer((client) => this.#relay(client))
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    const addr = this.#server.address()
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0
    return this.port
  }

  /**
   * Arm the fault: the first client chunk holding `marker` is forwarded to the server, whose side is
   * then ended (the server reads the message, then end of stream); the client's side is destroyed at
   * once (its answer never arrives), and every new connection is refused until `restore()`.
   * Resolves when it has happened.
   */
  cutAfter(marker: Buffer): Promise<void> {
    this.#marker = marker
    return new Promise((resolve) => {
      this.#onCut = resolve
    })
  }

  restore(): void {
    this.#refusing = false
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  #relay(client: Socket): void {
    client.on('error', () => undefined)
    if (this.#refusing) {
      this.refused++
      client.destroy()
      return
    }
    const up = connect(this.upstreamPort, '127.0.0.1')
    up.on('error', () => undefined)
    this.#sockets.add(client).add(up)
    const drop = (): void => {
      client.destroy()
      up.destroy()
      this.#sockets.delete(client)
      this.#sockets.delete(up)
    }
    client.on('close', drop)
    up.on('close', drop)
    up.pipe(client)
    client.on('data', (chunk: Buffer) => {
      const marker = this.#marker
      if (marker === undefined || !chunk.includes(marker)) {
        up.write(chunk)
        return
      }
      this.#marker = undefined
      this.#refusing = true
      // Untie the two sides first: destroying the client must not destroy the server's side before
      // the COMMIT is flushed to it.
      client.off('close', drop)
      up.off('close', drop)
      up.unpipe(client)
      client.destroy()
      this.#sockets.delete(client)
      // end(): the server gets every byte, COMMIT included, and then the end of the stream.
      up.end(chunk)
      this.#onCut?.()
    })
  }
}
