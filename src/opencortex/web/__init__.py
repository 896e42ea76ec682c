"""The admin console: server-rendered pages at ``/{org}/console`` for an org's administrators.

Pages call the same operations as the API (``exports.operations``, ``Instances``, ``logs``,
``files.accounting``) and hold no rule of their own; see ``docs/console.md``.
"""
