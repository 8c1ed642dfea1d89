"""Files and HTTP batches to validated rows to COPY to hypertables, with accounting of every row."""
