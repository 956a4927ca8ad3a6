/**
 * send()'s data arguments as node checks them (lib/dgram.js): a string,
 * Buffer, TypedArray or DataView, a list of them, or a slice by offset and
 * length; anything else is ERR_INVALID_ARG_TYPE, a slice outside the data
 * ERR_BUFFER_OUT_OF_BOUNDS.
 */
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { ERR_BUFFER_OUT_OF_BOUNDS, ERR_INVALID_ARG_TYPE } from '../errors/node-errors.js';

const DATA_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

function bufferListOk(list: unknown[]): Buffer[] | null {
  const out: Buffer[] = [];
  for (const b of list) {
    if (typeof b === 'string') out.push(Buffer.from(b));
    else if (types.isArrayBufferView(b)) out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    else return null;
  }
  return out;
}

/** `buffer[offset, offset + length)` as a Buffer view (a string is encoded first). */
export function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Buffer {
  let b: ArrayBufferView;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (types.isArrayBufferView(buffer)) b = buffer;
  else throw ERR_INVALID_ARG_TYPE('buffer', DATA_TYPES, buffer);
  const off = (offset as number) >>> 0;
  const len = (length as number) >>> 0;
  if (off > b.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('offset');
  if (off + len > b.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('length');
  return Buffer.from(b.buffer, b.byteOffset + off, len);
}

/** A datagram's data as a list of Buffers (views, not copies). */
export function toBufferList(buffer: unknown): Buffer[] {
  if (!Array.isArray(buffer)) {
    if (typeof buffer === 'string') return [Buffer.from(buffer)];
    if (!types.isArrayBufferView(buffer)) throw ERR_INVALID_ARG_TYPE('buffer', DATA_TYPES, buffer);
    return [Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)];
  }
  const list = bufferListOk(buffer);
  if (list === null) throw ERR_INVALID_ARG_TYPE('buffer list arguments', DATA_TYPES, buffer);
  return list;
}
