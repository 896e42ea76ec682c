"""JSON Schema fragments of the API's envelopes, documents and request bodies, for the OpenAPI
document (``api.openapi``)."""
