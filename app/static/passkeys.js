// Passkey ceremonies (WebAuthn). A form marked data-passkey="create" or "get" asks the server
// for options (a POST that keeps the challenge server-side), lets the browser create or use a
// passkey, puts the browser's answer in the form's hidden "credential" field and submits the
// form normally, so the server answers with its usual redirect and messages. A button marked
// data-passkey-confirm does the same for the form it belongs to (the admin's rules form).
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i += 1) { raw += String.fromCharCode(bytes[i]); }
    return window.btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  // The server's JSON options as the browser API wants them (binary fields as ArrayBuffers).
  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  // The browser's answer as the JSON the server's webauthn package reads.
  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      if (response.userHandle) { json.response.userHandle = toText(response.userHandle); }
    }
    if (credential.authenticatorAttachment) { json.authenticatorAttachment = credential.authenticatorAttachment; }
    return json;
  }

  function showError(form, text) {
    var slot = form.querySelector("[data-passkey-error]");
    if (!slot) { return; }
    slot.textContent = text;
    slot.hidden = false;
  }

  function run(form, mode) {
    var body = new FormData();
    body.append("csrf_token", form.elements.csrf_token.value);
    body.append("purpose", form.getAttribute("data-passkey-purpose"));
    fetch(form.getAttribute("data-passkey-options"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.error || form.getAttribute("data-passkey-failed")); }
          return data;
        });
      })
      .then(function (options) {
        return mode === "create"
          ? navigator.credentials.create({ publicKey: creationOptions(options) })
          : navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        form.elements.credential.value = JSON.stringify(answer(credential));
        form.submit();
      })
      .catch(function (error) {
        // A DOMException means the person cancelled, timed out or the device refused: say so plainly.
        var text = error && error.name && error.name !== "Error"
          ? form.getAttribute("data-passkey-failed")
          : (error && error.message) || form.getAttribute("data-passkey-failed");
        showError(form, text);
      });
  }

  var supported = Boolean(window.PublicKeyCredential && navigator.credentials);
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) {
    note.hidden = supported;
  });

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.elements.credential.value) { return; }
      event.preventDefault();
      if (!supported) { return; }
      run(form, form.getAttribute("data-passkey"));
    });
  });

  document.querySelectorAll("button[data-passkey-confirm]").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = button.form;
      if (!supported || !form) { return; }
      run(form, "get");
    });
  });
})();
