// The API console (/docs): Swagger UI on the gateway's merged document. "Authorize"
// signs a person in with the authorization code + PKCE (a browser keeps no secret), or
// takes a pasted access token (the `bearer` scheme). Served from the gateway's own
// origin: its Content-Security-Policy allows no inline script.
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("console-config").textContent);
  var ui = SwaggerUIBundle({
    url: config.openapi_url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Swagger UI's default asks a public validator for a badge: no request leaves here.
    validatorUrl: null,
    oauth2RedirectUrl: window.location.origin + config.oauth2_redirect_path,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    showExtensions: true,
    showCommonExtensions: true,
  });
  ui.initOAuth({
    clientId: config.client_id,
    scopes: config.scopes,
    usePkceWithAuthorizationCodeGrant: true,
  });
  window.ui = ui;
})();
