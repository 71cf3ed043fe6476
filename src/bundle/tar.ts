// A minimal POSIX ustar writer for the support bundle: regular files only, names up to 100 bytes,
// mode 0600, one mtime — what `tar -xzf` and every unpacker read. The archive is small (reports and
// redacted config files), so it is built in memory and gzipped with Node's zlib. Format: POSIX.1-1988
// ustar header (512 bytes: name, mode, uid, gid, size, mtime as octal, checksum, typeflag '0',
// magic "ustar\0" + version "00"), data padded to 512, two zero blocks at the end.
import { gzipSync } from 'node:zlib'

export interface TarEntry {
  /** A relative path with `/` separators, at most 100 bytes. */
  readonly name: string
  readonly data: Buffer | string
}

const block = 512

function octalField(header: Buffer, offset: number, length: number, value: number): void {
  // length - 1 octal digits, then NUL.
  header.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'ascii')
  header[offset + length - 1] = 0
}

function headerFor(name: string, size: number, mtimeSeconds: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8')
  if (
    nameBytes.length === 0 ||
    nameBytes.length > 100 ||
    name.startsWith('/') ||
    name.includes('..')
  ) {
    // A bug in the caller, not an input: the names are the bundle's own.
    throw new TypeError(`tar entry name not allowed: ${name}`)
  }
  const h = Buffer.alloc(block, 0)
  nameBytes.copy(h, 0)
  octalField(h, 100, 8, 0o600) // mode
  octalField(h, 108, 8, 0) // uid
  octalField(h, 116, 8, 0) // gid
  octalField(h, 124, 12, size)
  octalField(h, 136, 12, mtimeSeconds)
  h.fill(0x20, 148, 156) // checksum counted as spaces
  h.write('0', 156, 1, 'ascii') // regular file
  h.write('ustar\u000000', 257, 8, 'ascii')
  let sum = 0
  for (const b of h) sum += b
  // Six octal digits, NUL, space.
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii')
  h[154] = 0
  h[155] = 0x20
  return h
}

/** The entries as a ustar archive. */
export function tarArchive(entries: readonly TarEntry[], mtime: Date): Buffer {
  const seconds = Math.floor(mtime.getTime() / 1000)
  const parts: Buffer[] = []
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data
    parts.push(headerFor(e.name, data.length, seconds), data)
    const pad = (block - (data.length % block)) % block
    if (pad > 0) parts.push(Buffer.alloc(pad, 0))
  }
  parts.push(Buffer.alloc(block * 2, 0))
  return Buffer.concat(parts)
}

/** The entries as a .tar.gz. */
export function tarGz(entries: readonly TarEntry[], mtime: Date): Buffer {
  return gzipSync(tarArchive(entries, mtime))
}
