"""The docs server: data cards and Great Expectations Data Docs over HTTP, so the UI's links open."""
