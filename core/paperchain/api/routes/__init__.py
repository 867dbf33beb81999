"""The API's own routes, one module per resource."""
