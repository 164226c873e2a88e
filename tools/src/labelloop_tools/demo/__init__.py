"""``labelloop demo``: the whole active-learning loop on the embedded stack, with a report.

* :mod:`~labelloop_tools.demo.plan` — what a run does (rounds, clips, annotator, training) and the
  settings it gives each service;
* :mod:`~labelloop_tools.demo.ledger` — every frame's fate, read back from the stack (S3, DynamoDB);
* :mod:`labelloop.label_quality` (the kernel) — labels scored against the hidden ground truth;
* :mod:`~labelloop_tools.demo.loop` — renders and uploads clips round by round and waits on the stack;
* :mod:`~labelloop_tools.demo.report` — ``report.json`` and a self-contained ``report.html`` with plots.
"""
