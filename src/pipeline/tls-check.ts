/**
 * One TLS handshake with each bootstrap broker before the consumer starts, to fail fast on a TLS setup that
 * retrying cannot fix. kafkajs treats every connection error as retriable, so a broker certificate the CA bundle
 * does not trust, or a client certificate the broker refuses, would be retried for about 45 s (the client's
 * retry budget, sized for broker restarts) and end in the same error without a hint.
 *
 * The check sends Kafka's ApiVersions request (v0, which every broker answers, SASL listeners included) and waits
 * for the answer: with TLS 1.3 a broker refuses a client certificate only after the handshake has completed, so
 * a completed handshake alone proves nothing. A broker that cannot be reached (refused, reset, timed out) is left
 * to kafkajs, which retries it: a broker may be restarting.
 */
import { isIP } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { InputError, UsageError } from '../model/errors.js';

/**
 * OpenSSL's certificate verification errors as Node reports them (the `code` of the handshake error; the list of
 * "X509 certificate error codes" in Node's `tls` documentation), plus Node's own host name check.
 */
const UNTRUSTED_CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** ApiVersions v0 with correlation id 1 and client id "egress-learner-tls-check", length-prefixed. */
function apiVersionsRequest(): Buffer {
  const clientId = Buffer.from('egress-learner-tls-check');
  const body = Buffer.alloc(10 + clientId.length);
  body.writeInt16BE(18, 0); // api key: ApiVersions
  body.writeInt16BE(0, 2); // api version
  body.writeInt32BE(1, 4); // correlation id
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'unreachable' }
  | { readonly kind: 'untrusted'; readonly code: string; readonly reason: string }
  | { readonly kind: 'refused'; readonly code: string; readonly reason: string };

/** The first line of an OpenSSL message, without its `…:error:0A000412:SSL routines:fn:` prefix. */
function reasonOf(err: NodeJS.ErrnoException & { reason?: unknown }): string {
  if (typeof err.reason === 'string' && err.reason !== '') return err.reason;
  return (err.message.split('\n')[0] ?? '').trim();
}

function handshake(host: string, port: number, ssl: ConnectionOptions, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    // The same options kafkajs' socket factory passes (no SNI for an address: RFC 6066 allows host names only).
    const socket = connect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl }, () =>
      socket.write(apiVersionsRequest()),
    );
    const timer = setTimeout(() => done({ kind: 'unreachable' }), timeoutMs);
    socket.once('data', () => done({ kind: 'ok' }));
    socket.once('close', () => done({ kind: 'unreachable' }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (UNTRUSTED_CERTIFICATE_CODES.has(code)) done({ kind: 'untrusted', code, reason: reasonOf(err) });
      // OpenSSL errors: an alert from the broker (a refused or missing client certificate, no common protocol
      // version or cipher), or a peer that does not speak TLS.
      else if (code.startsWith('ERR_SSL_')) done({ kind: 'refused', code, reason: reasonOf(err) });
      else done({ kind: 'unreachable' });
    });
  });
}

/**
 * Throws an `InputError` naming the broker when one of them fails the TLS handshake in a way retrying cannot fix,
 * and a `UsageError` when the PEM files do not make a TLS context (a key that does not match its certificate).
 */
export async function checkTls(
  brokers: readonly string[],
  ssl: ConnectionOptions,
  timeoutMs = 10_000,
): Promise<void> {
  for (const broker of brokers) {
    const colon = broker.lastIndexOf(':');
    // validated in kafkaConfig: host:port
    const host = broker.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(broker.slice(colon + 1));
    let outcome: Outcome;
    try {
      outcome = await handshake(host, port, ssl, timeoutMs);
    } catch (err) {
      // tls.connect throws at once when it cannot build the context from the PEM files.
      throw new UsageError(
        `--tls-ca/--tls-cert/--tls-key: the PEM files do not make a TLS client (${reasonOf(err as NodeJS.ErrnoException)}); --tls-key must be the key of --tls-cert`,
        'kafka_tls',
      );
    }
    if (outcome.kind === 'untrusted') {
      throw new InputError(
        `kafka ${broker}`,
        `TLS: the broker's certificate is not trusted (${outcome.code}: ${outcome.reason}); pass the CA that signed it with --tls-ca`,
        'kafka_tls',
      );
    }
    if (outcome.kind === 'refused') {
      throw new InputError(
        `kafka ${broker}`,
        `TLS: the handshake failed (${outcome.code}: ${outcome.reason}); if the broker requires a client certificate, pass one it trusts with --tls-cert and --tls-key`,
        'kafka_tls',
      );
    }
  }
}
