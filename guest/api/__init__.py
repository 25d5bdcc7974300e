"""The Engine API: the HTTP server (http/), the routes, one module per resource, each with
register(router, engine) (routes.py adds them all), and the shapes and filters they share.

Only http/ and ping.py are imported before the agent serves: the rest is imported once it answers /_ping."""
