// Progressive enhancement of the sign-in page: without JavaScript the password form works
// alone; with it, and when the server offers passkeys, the passkey button appears.
(() => {
  const form = document.querySelector('form[data-passkeys]');
  const area = document.getElementById('passkey-area');
  if (!form || !area) return;
  if (form.dataset.passkeys === 'on' && typeof window.PublicKeyCredential === 'function') {
    area.hidden = false;
  }
})();
