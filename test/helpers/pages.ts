import { CookieJar } from './cookie-jar.ts';

/** A browser on the anonymous pages (forgot password, reset, sign-up, email confirmation): cookies kept. */
export class PageBrowser {
  readonly jar = new CookieJar();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  async get(path: string): Promise<{ status: number; html: string; csrf: string | undefined; headers: Headers }> {
    const url = new URL(path, this.base);
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: this.jar.header(url.pathname) } });
    this.jar.store(res, url.pathname);
    const html = await res.text();
    return { status: res.status, html, csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1], headers: res.headers };
  }

  async post(
    path: string,
    fields: Record<string, string>,
  ): Promise<{ status: number; html: string; headers: Headers; ms: number }> {
    const url = new URL(path, this.base);
    const started = performance.now();
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.jar.header(url.pathname), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    this.jar.store(res, url.pathname);
    const html = await res.text();
    return { status: res.status, html, headers: res.headers, ms: performance.now() - started };
  }

  /** GETs the page, then posts its form with the CSRF token it carries */
  async submit(path: string, action: string, fields: Record<string, string>) {
    const page = await this.get(path);
    if (!page.csrf) throw new Error(`no form on ${path}: ${page.status} ${page.html.slice(0, 300)}`);
    return this.post(action, { csrf: page.csrf, ...fields });
  }
}

/** The text of the page's <main>, without the per-request values (CSRF tokens, nonces). */
export const mainOf = (html: string): string =>
  (/<main[^>]*>([\s\S]*?)<\/main>/.exec(html)?.[1] ?? html).replace(/value="[^"]*"/g, 'value=""').trim();
