"""OGC API Features under ``/ogc``, readable by QGIS and GDAL.

Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0), the queryables of Part 3 and the schemas of Part 5:
``/collections/{id}/schema`` and ``/queryables`` tell clients each property's type, and items
serve every number with its SQL type (``spatial.features.typed``).
"""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import READERS, require_role
from api.deps import ReadSessionDep, SettingsDep
from api.keys import Principal
from api.pages import lang_of, page
from core.errors import NotFound
from core.i18n import Lang
from core.i18n import _ as N_
from monitoring.alerts import features as alert_features
from spatial import features

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ogc", tags=["ogc"], dependencies=[Depends(require_role(*READERS))])
Reader = Annotated[Principal, Depends(require_role(*READERS))]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/core-roles-features",
]
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The alerts collection (monitoring.alerts.features) as JSON Schema.
ALERT_PROPERTIES: dict[str, dict[str, Any]] = {
    "id": {"title": "Alert id", "type": "integer", "x-ogc-role": "id"},
    "rule": {"title": "Rule", "type": "string"},
    "severity": {"title": "Severity", "type": "string"},
    "state": {"title": "State", "type": "string"},
    "subject_type": {"title": "Subject type", "type": "string"},
    "subject_id": {"title": "Subject id", "type": "string"},
    "summary": {"title": "Summary", "type": "string"},
    "starts_at": {"title": "Starts at", "type": "string", "format": "date-time",
                  "x-ogc-role": "primary-interval-start"},
    "ends_at": {"title": "Ends at", "type": "string", "format": "date-time",
                "x-ogc-role": "primary-interval-end"},
    "acknowledged_by": {"title": "Acknowledged by", "type": "string"},
    "acknowledged_at": {"title": "Acknowledged at", "type": "string", "format": "date-time"},
    # an area's polygon, a feeder's line or a meter's point
    "geometry": {"title": "Geometry", "format": "geometry-any", "x-ogc-role": "primary-geometry"},
}
JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
HTML = "text/html"
MAX_LIMIT = 10_000
Fmt = Annotated[Literal["json", "html"] | None, Query(alias="f", description="json (default) or html")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(href: str, rel: str, type_: str, title: str = "") -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _self_links(
    request: Request, path: str, json_type: str = JSON, query: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    q = {k: v for k, v in (query or {}).items() if v is not None}
    qs = urlencode(q)
    sep = "&" if qs else ""
    href = f"{_base(request)}{path}"
    return [
        _link(f"{href}?{qs}{sep}f=json", "self", json_type, "this document"),
        _link(f"{href}?{qs}{sep}f=html", "alternate", HTML, "this document as HTML"),
    ]


REL_WORDS = {
    "self": N_("This document"), "alternate": N_("This document"), "service-desc": N_("API definition"),
    "service-doc": N_("API documentation"), "conformance": N_("Conformance classes"),
    "data": N_("Collections"), "items": N_("Features"), "next": N_("Next page"), "prev": N_("Previous page"),
    "collection": N_("The collection"), REL_SCHEMA: N_("Schema"), REL_QUERYABLES: N_("Queryables"),
}
"""What each link relation is called on the HTML pages (the JSON keeps its own titles)."""


def _link_label(link: dict[str, str], lang: Lang) -> str:
    """A link of the HTML page: what it is and in which form, in the page's language."""
    _ = lang.gettext
    rel = link.get("rel", "")
    what = _(REL_WORDS[rel]) if rel in REL_WORDS else (link.get("title") or rel)
    form = _("page") if link.get("type") == HTML else ("GeoJSON" if link.get("type") == GEOJSON else "JSON")
    return f"{what} ({form})"


def _html(request: Request, data: dict[str, Any]) -> Response:
    """The HTML form of a document: its title, its links and the document itself as JSON."""
    lang = lang_of(request)
    _ = lang.gettext
    title = str(data.get("title") or data.get("id") or _("gridwatch OGC API"))
    links = "".join(
        f'<li><a href="{html.escape(link["href"])}">{html.escape(_link_label(link, lang))}</a></li>'
        for link in data.get("links", [])
    )
    doc = html.escape(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    heads = html.escape(_("Links")), html.escape(_("The document (JSON)"))
    body = (f"<h1>{html.escape(title)}</h1><h2>{heads[0]}</h2><ul>{links}</ul>"
            f'<h2>{heads[1]}</h2><pre lang="en">{doc}</pre>')
    return page(request, lang, title=title, body=body)


def _render(request: Request, data: dict[str, Any], fmt: str | None, media_type: str = JSON) -> Response:
    if fmt == "html":
        return _html(request, data)
    return JSONResponse(data, media_type=media_type)


def _collection_ids() -> list[str]:
    return (
        [c.id for c in features.ASSET_COLLECTIONS]
        + [alert_features.COLLECTION_ID]
        + [c.id for c in features.OVERLAY_COLLECTIONS]
    )


def _collection_doc(request: Request, session: Any, collection_id: str) -> dict[str, Any]:
    if collection_id == alert_features.COLLECTION_ID:
        title, description = alert_features.TITLE, alert_features.DESCRIPTION
        bbox = alert_features.extent(session=session)
    elif collection_id in features.COLLECTIONS:
        c = features.COLLECTIONS[collection_id]
        title, description = c.title, c.description
        bbox = features.extent(session=session, collection_id=collection_id)
    else:
        raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")
    base = f"{_base(request)}/ogc/collections/{collection_id}"
    return {
        "id": collection_id,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [list(bbox) if bbox else [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84}},
        "links": [
            _link(f"{base}?f=json", "self", JSON, title),
            _link(f"{base}?f=html", "alternate", HTML, f"{title} as HTML"),
            _link(f"{base}/items?f=json", "items", GEOJSON, f"{title} items"),
            _link(f"{base}/items?f=html", "items", HTML, f"{title} items as HTML"),
            _link(f"{base}/schema", REL_SCHEMA, SCHEMA_JSON, f"{title}: schema"),
            _link(f"{base}/queryables", REL_QUERYABLES, SCHEMA_JSON, f"{title}: queryables"),
        ],
    }


def _properties(collection_id: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """(title, JSON Schema properties) of a collection; NotFound for an unknown one."""
    if collection_id == alert_features.COLLECTION_ID:
        props = {name: dict(spec) for name, spec in ALERT_PROPERTIES.items()}
        for seq, spec in enumerate(props.values(), start=1):
            spec["x-ogc-propertySeq"] = seq
        return alert_features.TITLE, props
    if collection_id in features.COLLECTIONS:
        return features.COLLECTIONS[collection_id].title, features.properties_schema(collection_id)
    raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")


def _schema_doc(request: Request, collection_id: str, kind: str) -> dict[str, Any]:
    """The ``schema`` (Part 5) or ``queryables`` (Part 3) JSON Schema document of a collection."""
    title, props = _properties(collection_id)
    path = f"/ogc/collections/{collection_id}/{kind}"
    doc: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{_base(request)}{path}",
        "type": "object",
        "title": title if kind == "schema" else f"{title}: queryables",
        "properties": props,
    }
    if kind == "queryables":
        doc["additionalProperties"] = False
    return doc


@router.get("", summary="OGC API landing page")
def landing(request: Request, f: Fmt = None) -> Response:
    """The landing page: links to the API definition, conformance and collections."""
    base = _base(request)
    data = {
        "title": "gridwatch OGC API Features",
        "description": "Feeders, transformer areas, alerts and overlay layers of the distribution grid.",
        "links": _self_links(request, "/ogc")
        + [
            _link(
                f"{base}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "API definition",
            ),
            _link(f"{base}/docs", "service-doc", HTML, "API documentation"),
            _link(f"{base}/ogc/conformance?f=json", "conformance", JSON, "conformance classes"),
            _link(f"{base}/ogc/collections?f=json", "data", JSON, "collections"),
        ],
    }
    return _render(request, data, f)


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, f: Fmt = None) -> Response:
    """The conformance classes this API implements."""
    data = {"conformsTo": CONFORMANCE, "links": _self_links(request, "/ogc/conformance")}
    return _render(request, data, f)


@router.get("/collections", summary="Feature collections")
def collections(request: Request, session: ReadSessionDep, f: Fmt = None) -> Response:
    """Every collection: feeders, areas, alerts and one per overlay layer."""
    data = {
        "links": _self_links(request, "/ogc/collections"),
        "crs": [CRS84],
        "collections": [_collection_doc(request, session, cid) for cid in _collection_ids()],
    }
    return _render(request, data, f)


@router.get("/collections/{collection_id}", summary="One feature collection")
def collection(collection_id: str, request: Request, session: ReadSessionDep, f: Fmt = None) -> Response:
    """One collection's description, extent and links."""
    return _render(request, _collection_doc(request, session, collection_id), f)


@router.get(
    "/collections/{collection_id}/schema",
    summary="Schema of a collection's features (JSON Schema, OGC API Features Part 5)",
    responses={200: {"content": {SCHEMA_JSON: {}}}},
)
def schema(collection_id: str, request: Request, f: Fmt = None) -> Response:
    """Every property with its type (string, number, integer, array), roles and the geometry."""
    return _render(request, _schema_doc(request, collection_id, "schema"), f, SCHEMA_JSON)


@router.get(
    "/collections/{collection_id}/queryables",
    summary="Queryables of a collection (JSON Schema, OGC API Features Part 3)",
    responses={200: {"content": {SCHEMA_JSON: {}}}},
)
def queryables(collection_id: str, request: Request, f: Fmt = None) -> Response:
    """The properties a client may name, with their types."""
    return _render(request, _schema_doc(request, collection_id, "queryables"), f, SCHEMA_JSON)


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection (GeoJSON)",
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    collection_id: str,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")] = None,
    limit: Annotated[int, Query(ge=1, description=f"Page size (default 10; at most {MAX_LIMIT})")] = 10,
    offset: Annotated[int, Query(ge=0, le=2**31, description="Features to skip")] = 0,
    f: Fmt = None,
) -> Response:
    """A page of features, with numberMatched, numberReturned and next/prev links."""
    box = features.parse_bbox(bbox)
    limit = min(limit, MAX_LIMIT)
    if collection_id == alert_features.COLLECTION_ID:
        matched, feats = alert_features.items(session=session, bbox=box, limit=limit, offset=offset)
    elif collection_id in features.COLLECTIONS:
        matched, feats = features.items(
            session=session,
            collection_id=collection_id,
            bbox=box,
            limit=limit,
            offset=offset,
            tag_min_share=settings.tag_min_share,
        )
    else:
        raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")
    path = f"/ogc/collections/{collection_id}/items"
    query = {k: v for k, v in {"bbox": bbox, "limit": limit, "offset": offset}.items() if v is not None}
    links = _self_links(request, path, GEOJSON, query)
    page = f"{_base(request)}{path}?"
    if offset + len(feats) < matched:
        nxt = urlencode({**query, "offset": offset + limit})
        links.append(_link(f"{page}{nxt}&f=json", "next", GEOJSON, "next page"))
    if offset > 0:
        prev = urlencode({**query, "offset": max(0, offset - limit)})
        links.append(_link(f"{page}{prev}&f=json", "prev", GEOJSON, "previous page"))
    links.append(
        _link(f"{_base(request)}/ogc/collections/{collection_id}?f=json", "collection", JSON, collection_id)
    )
    data = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": matched,
        "numberReturned": len(feats),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    return _render(request, data, f, GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature (GeoJSON)",
    responses={200: {"content": {GEOJSON: {}}}},
)
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    f: Fmt = None,
) -> Response:
    """One feature by its id."""
    if collection_id == alert_features.COLLECTION_ID:
        feature = alert_features.item(session=session, alert_id=feature_id)
    elif collection_id in features.COLLECTIONS:
        feature = features.item(
            session=session,
            collection_id=collection_id,
            feature_id=feature_id,
            tag_min_share=settings.tag_min_share,
        )
    else:
        raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")
    path = f"/ogc/collections/{collection_id}/items/{feature_id}"
    feature["links"] = _self_links(request, path, GEOJSON) + [
        _link(f"{_base(request)}/ogc/collections/{collection_id}?f=json", "collection", JSON, collection_id)
    ]
    return _render(request, feature, f, GEOJSON)
