from tests.sandbox.fixtures import corp, mp, oa, pauses, policy, sandbox, serve_wsgi  # noqa: F401
