// Swagger UI for this service's own spec. "Authorize" takes a bearer token
// (in development: `appreg token --tenant T`), kept across reloads.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  tryItOutEnabled: false,
  validatorUrl: null
});
