/* Starts Swagger UI on this server's own OpenAPI document. Kept out of
 * index.html so the page works under a Content-Security-Policy without
 * 'unsafe-inline' scripts. */
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    validatorUrl: null,
    tryItOutEnabled: false
  });
};
