"""The Dagster layer: thin and declarative. It holds no SQL or Cypher; it calls the core packages."""
