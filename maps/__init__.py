"""Folium map builders, vendored Leaflet assets, legends and styles."""
