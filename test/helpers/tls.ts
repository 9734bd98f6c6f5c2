import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, as files and as PEM text. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A throw-away PKI made with the openssl command line: EC P-256, valid two days. */
export interface Pki {
  readonly dir: string;
  readonly ca: Issued;
  /** a certificate signed by this CA */
  issue(name: string, options: { subject: string; san: string; usage?: 'clientAuth' | 'serverAuth' }): Issued;
  /** another CA: certificates from it must be refused */
  otherCa(name: string): Pki;
  /** a self-signed client certificate (RFC 8705 §2.2) */
  selfSigned(name: string, subject: string): Issued;
  remove(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function read(dir: string, name: string): Issued {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export function createPki(dir = mkdtempSync(join(tmpdir(), 'idp-pki-')), caName = 'ca'): Pki {
  openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${caName}.key`,
      '-out',
      `${caName}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=Test CA ${caName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const ca = read(dir, caName);
  return {
    dir,
    ca,
    issue(name, { subject, san, usage = 'clientAuth' }) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
      openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          ca.certFile,
          '-CAkey',
          ca.keyFile,
          '-CAcreateserial',
          '-out',
          `${name}.pem`,
          '-days',
          '2',
          '-extfile',
          `${name}.ext`,
        ],
        dir,
      );
      return read(dir, name);
    },
    otherCa(name) {
      return createPki(dir, name);
    },
    selfSigned(name, subject) {
      openssl(
        ['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject],
        dir,
      );
      return read(dir, name);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTPS request over a new connection, trusting `ca` and presenting `client` if given. */
export function httpsRequest(
  url: string,
  options: {
    ca: string;
    client?: Pick<Issued, 'cert' | 'key'> | undefined;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
  },
): Promise<TlsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: options.ca,
        ...(options.client ? { cert: options.client.cert, key: options.client.key } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A `fetch` for openid-client (`config[customFetch]`) over node:https with a client certificate. */
export function tlsFetch(ca: string, client?: Pick<Issued, 'cert' | 'key'>) {
  return async (url: string, init: { method?: string; headers?: Headers | Record<string, string>; body?: unknown }) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers as HeadersInit | undefined).forEach((value, key) => {
      headers[key] = value;
    });
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    const res = await httpsRequest(url, {
      ca,
      client,
      method: init.method ?? 'GET',
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const out = new Headers();
    for (const [key, value] of Object.entries(res.headers)) {
      if (value !== undefined) out.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    return new Response(res.status === 204 ? null : res.text, { status: res.status, headers: out });
  };
}
