"""Studio batch: a manifest of dialogue lines → an MP4, a pose.json and a lips.json per line.

``manifest`` reads and checks the manifest, ``ledger`` keeps the append-only record of every row and the
content hashes of its inputs, ``steps`` is the per-row pipeline that a worker runs, ``local_pool`` and
``ray_pool`` are the two kinds of workers, ``progress`` shows the run and ``runner`` plans and drives it
(``python -m engine batch``).
"""
