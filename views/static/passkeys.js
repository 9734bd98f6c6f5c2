// Passkey ceremonies for the sign-in page, the passkey step and the account page. Uses
// @simplewebauthn/browser's UMD bundle (global SimpleWebAuthnBrowser), served from our origin.
// The server keeps the challenge; this script only carries options and responses.
(() => {
  const lib = window.SimpleWebAuthnBrowser;
  if (!lib?.browserSupportsWebAuthn()) return;
  const errorBox = document.getElementById('passkey-error') || document.getElementById('login-error');

  const post = async (url, body) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(data.error_description || 'The passkey could not be used.'), data);
    return data;
  };

  const get = async (url) => {
    const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(data.error_description || 'The passkey could not be used.'), data);
    return data;
  };

  const show = (message) => {
    if (errorBox) errorBox.textContent = message;
  };

  /** options -> browser ceremony -> verify -> follow the redirect the server names */
  const ceremony = async ({ kind, options, verify, csrf, autofill = false, name }) => {
    // authentication options are a GET (they only issue a challenge); registration ones a POST
    const optionsJSON = kind === 'register' ? await post(options, { csrf }) : await get(options);
    let response;
    try {
      response =
        kind === 'register'
          ? await lib.startRegistration({ optionsJSON })
          : await lib.startAuthentication({ optionsJSON, useBrowserAutofill: autofill });
    } catch (err) {
      // the person closed the dialog, or a newer ceremony replaced this one: nothing to report
      if (err && (err.name === 'NotAllowedError' || err.name === 'AbortError' || err.code === 'ERROR_CEREMONY_ABORTED'))
        return;
      throw err;
    }
    const result = await post(verify, { csrf, response, ...(name ? { name } : {}) });
    if (result.redirect) window.location.assign(result.redirect);
  };

  const run = (args) =>
    ceremony(args).catch((err) => {
      show(err.message || 'The passkey could not be used.');
      document.body.dataset.passkeyError = err.error || 'error';
    });

  // buttons that carry their own endpoints: the account page and the passkey step
  for (const button of document.querySelectorAll('[data-webauthn]')) {
    button.hidden = false;
    button.addEventListener('click', () =>
      run({
        kind: button.dataset.webauthn,
        options: button.dataset.options,
        verify: button.dataset.verify,
        csrf: button.dataset.csrf,
      }),
    );
  }

  // the sign-in page: the passkey button, autofill (conditional UI) and the offer after a password
  const form = document.querySelector('form[data-passkeys="on"]');
  if (!form) return;
  const base = form.getAttribute('action').replace(/\/login$/, '');
  const csrf = form.querySelector('input[name="csrf"]').value;
  const signin = { kind: 'authenticate', options: `${base}/passkey/options`, verify: `${base}/passkey/verify`, csrf };

  document.getElementById('passkey-signin')?.addEventListener('click', () => run(signin));

  lib
    .browserSupportsWebAuthnAutofill()
    .then((supported) => {
      if (supported) run({ ...signin, autofill: true });
    })
    .catch(() => {});

  // tell the server a platform authenticator is here, so it may offer to add a passkey after the password
  if (typeof PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable === 'function') {
    PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()
      .then((available) => {
        if (!available) return;
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = 'passkey_capable';
        input.value = '1';
        form.appendChild(input);
      })
      .catch(() => {});
  }
})();
