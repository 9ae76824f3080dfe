"""`aiki ui`: the dashboard, a web face over `Client` beside the CLI. It owns routes
(`pages/`), templates and static files, the token gate and the static export; no
domain rules. Importing it needs the `ui` extra (Starlette, Jinja2; uvicorn serves it)."""
