import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody } from '../server-errors.js';

/**
 * Requests that Node's HTTP parser rejects before express sees them — a request line or headers
 * over Node's 16 KiB limit, bytes that are not HTTP, a request that did not arrive in time — get
 * the same JSON error object as every other 4xx (`{"error": {code, message}}`) instead of Node's
 * bare status line or a reset connection.
 */
const PARSER_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'the request line and headers are larger than the server accepts (16 KiB)'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'chunk_extensions_too_large', 'the chunk extensions of the request body are larger than the server accepts'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'the request did not arrive in time'],
};
const BAD_REQUEST: [number, string, string] = [400, 'bad_request', 'the request is not valid HTTP'];

/** A parser error; `rawPacket` holds the bytes it failed on (Node's clientError documents it). */
type ClientError = NodeJS.ErrnoException & { rawPacket?: Buffer };

/**
 * The raw response for a parser error (there is no response object yet: it goes straight to the
 * socket). A HEAD request's answer has no body (a client would read one as garbage), only the
 * length it would have.
 */
export function clientErrorResponse(err: ClientError): { status: number; raw: string } {
  const [status, code, message] = (err.code && PARSER_ERRORS[err.code]) || BAD_REQUEST;
  const body = JSON.stringify(errorBody(code, message));
  const head = Buffer.isBuffer(err.rawPacket) && err.rawPacket.toString('latin1', 0, 5) === 'HEAD ';
  const raw =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'X-Content-Type-Options: nosniff\r\n' +
    'Connection: close\r\n\r\n' +
    (head ? '' : body);
  return { status, raw };
}

/** How long a socket that was answered may keep sending (its bytes are read and dropped) before it is closed. */
const LINGER_MS = 2000;

/** Installs the `clientError` handler on `server` (cli/serve-command.ts and the tests' listening servers). */
export function answerClientErrors(server: Server): Server {
  const answered = new WeakSet<Socket>();
  server.on('clientError', (err: ClientError, socket: Socket) => {
    if (answered.has(socket)) return; // the rest of a rejected request: the socket closes on its own
    // A response of this connection has started (a pipelined request after it broke): nothing
    // well-formed can be written any more. A reset peer cannot be answered either.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    answered.add(socket);
    socket.end(clientErrorResponse(err).raw);
    // Closing at once while the client still sends (the rest of 20 KB of headers) would make the
    // kernel reset the connection and the client could lose the answer: half-close after the
    // answer, keep reading for a moment, then close.
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  });
  return server;
}
