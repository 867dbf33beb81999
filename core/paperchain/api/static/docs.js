// Kept in its own file so the page needs no inline script (the docs CSP is script-src 'self').
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
});
