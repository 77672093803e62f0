"""The API's own documentation: OpenAPI and AsyncAPI documents and the page that renders them."""
