"""Faust adapter: Kafka topics and tables in, engine outputs out (no business logic here)."""
