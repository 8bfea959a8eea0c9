"""``dagcore ui``: a read-only web application over the run history.

The server (:mod:`dagcore.ui.app`) answers a JSON API under ``/api/`` from the SQL history
(:mod:`dagcore.ui.queries`) and serves the pages in ``static/``, which draw runs with
cytoscape.js and dagre (vendored, no CDN). Login is HTTP basic auth (:mod:`dagcore.ui.auth`).
"""
