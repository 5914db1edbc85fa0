"""The document layer: landed documents → raw.documents → curated, chunked, embedded, searchable."""
