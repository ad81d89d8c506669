// Passkey buttons of the hosted pages (API.md §10); everything else works without JavaScript.
// A form with `data-passkey="create"` or `"get"` stays hidden unless this browser has WebAuthn.
// Submitting it posts the form's CSRF token to `data-options` for the ceremony's options, asks
// the browser for the credential, and posts the form with the credential as JSON in its
// `credential` field; the server answers that post like any other form.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBuffer(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }

  function toText(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) {
      binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The server's options (binary fields base64url) as the browser API takes them.
  function publicKeyOptions(options) {
    const key = Object.assign({}, options.publicKey);
    key.challenge = toBuffer(key.challenge);
    if (key.user) {
      key.user = Object.assign({}, key.user, { id: toBuffer(key.user.id) });
    }
    for (const list of ["excludeCredentials", "allowCredentials"]) {
      if (key[list]) {
        key[list] = key[list].map((c) => Object.assign({}, c, { id: toBuffer(c.id) }));
      }
    }
    return key;
  }

  // `PublicKeyCredential.toJSON()`, spelled out for browsers that lack it.
  function credentialJson(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    const response = {};
    for (const field of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
      if (credential.response[field]) {
        response[field] = toText(credential.response[field]);
      }
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  async function ceremony(form) {
    const body = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
    const answer = await fetch(form.dataset.options, { method: "POST", body: body, credentials: "same-origin" });
    if (!answer.ok) {
      // The form's own post shows why (e.g. a login that is too old to add a passkey).
      return null;
    }
    const publicKey = publicKeyOptions(await answer.json());
    const credential = form.dataset.passkey === "create"
      ? await navigator.credentials.create({ publicKey: publicKey })
      : await navigator.credentials.get({ publicKey: publicKey });
    return JSON.stringify(credentialJson(credential));
  }

  function say(form, message) {
    const status = form.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = message;
      status.hidden = false;
    }
  }

  for (const form of document.querySelectorAll("form[data-passkey]")) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        form.elements.credential.value = (await ceremony(form)) || "";
        form.submit();
      } catch (error) {
        // Cancelled, timed out, or no passkey for this site on this device.
        say(form, "No passkey was used. Try again, or choose another way.");
        button.disabled = false;
      }
    });
  }
})();
