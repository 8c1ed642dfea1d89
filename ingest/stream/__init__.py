"""MQTT streams: the consumer that feeds the ingest path, and replay of stream files."""
