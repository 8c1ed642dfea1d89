"""HTTP routers, one per route group."""
