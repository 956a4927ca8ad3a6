/** Bulk two-way transfers for interop tests: the same on kernel and ustack sockets. */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

export interface ExchangeResult {
  /** SHA-256 of everything received. */
  received: string;
  bytes: number;
  /** The socket's error code, if it failed. */
  error: string | null;
}

/**
 * Writes `blocks` copies of `block` (honouring backpressure), ends, and
 * hashes what comes back; resolves at 'close'.
 */
export function exchange(sock: Duplex, block: Uint8Array, blocks: number): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    const h = createHash('sha256');
    let bytes = 0;
    let error: string | null = null;
    sock.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    sock.on('close', () => resolve({ received: h.digest('hex'), bytes, error }));
    let i = 0;
    const pump = (): void => {
      while (i < blocks) {
        i++;
        if (!sock.write(block)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    pump();
  });
}

/** SHA-256 of `blocks` copies of `block`. */
export function repeatedHash(block: Uint8Array, blocks: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < blocks; i++) h.update(block);
  return h.digest('hex');
}
