"""Geometry loading, CRS handling, overlays, tags and admin regions."""
