"""``evalkit view``: a local review studio. People read runs, grade outputs, review candidates and
correct golden cases; grades land in the results store (``human_labels``) and calibrate the judges.

An ASGI app (Starlette, served by uvicorn) over the store; pages are jinja2 templates, the only
JavaScript is the package's own small ``static/studio.js``; nothing is fetched from the network.
Install with the ``view`` extra.
"""
