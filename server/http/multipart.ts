import { UserError } from '../../core/errors.js';

export interface Part {
  name: string | null;
  filename: string | null;
  contentType: string | null;
  data: Buffer;
}

const MAX_PARTS = 16;

/** The boundary of a multipart/form-data Content-Type, or a 400. */
export function boundaryOf(contentType: string): string {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  if (!b) throw new UserError('multipart/form-data without a valid boundary', 'invalid_multipart');
  return b;
}

/**
 * Parses a whole multipart/form-data body held in memory (the route's size limit has already
 * bounded it). Small and strict: a body that does not end with the closing delimiter, a part
 * without headers, or too many parts is a 400 — never a crash or a hang.
 */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new UserError('multipart body has no part delimiter', 'invalid_multipart');
  for (;;) {
    pos += delimiter.length;
    // "--" right after a delimiter closes the body.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    else throw new UserError('multipart delimiter is not followed by a line break', 'invalid_multipart');
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new UserError('multipart part is truncated (no end of headers)', 'invalid_multipart');
    const headers = body.subarray(pos, headerEnd).toString('latin1');
    const dataStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    if (next < 0) throw new UserError('multipart body is truncated (no closing delimiter)', 'invalid_multipart');
    parts.push({ ...parseHeaders(headers), data: body.subarray(dataStart, next) });
    if (parts.length > MAX_PARTS) throw new UserError(`multipart body has more than ${MAX_PARTS} parts`, 'invalid_multipart');
    pos = next + 2;
  }
}

function parseHeaders(text: string): Omit<Part, 'data'> {
  let name: string | null = null;
  let filename: string | null = null;
  let contentType: string | null = null;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-disposition') {
      name = /(?:^|;)\s*name="([^"]*)"/i.exec(value)?.[1] ?? null;
      filename = /(?:^|;)\s*filename="([^"]*)"/i.exec(value)?.[1] ?? null;
    } else if (key === 'content-type') {
      contentType = value.slice(0, 100);
    }
  }
  return { name, filename, contentType };
}

/** The image part of an upload form: a part named image/file, else the first part with a filename. */
export function imagePart(parts: Part[]): Part {
  const part = parts.find((p) => p.name === 'image' || p.name === 'file') ?? parts.find((p) => p.filename !== null);
  if (!part) throw new UserError('multipart body has no image part (send it as a field named "image")', 'missing_image');
  return part;
}
