"""The FastAPI app: routers, auth, and the error to status mapping."""
