"""Studio batch: a manifest of dialogue lines → an MP4, a pose.json and a lips.json per line.

``manifest`` reads and checks the manifest, ``ledger`` keeps the append-only record of every row and the
content hashes of its inputs, ``steps`` is the per-row pipeline, ``row_worker`` runs rows inside a worker,
``pool`` is what the runner asks of a pool of workers, ``local_pool`` and ``ray_pool`` are the two kinds,
``progress`` shows the run and ``runner`` plans and drives it (``python -m engine batch``).
"""
