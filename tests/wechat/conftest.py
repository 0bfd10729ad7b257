from tests.sandbox.fixtures import corp, mp, oa, pauses, policy, sandbox  # noqa: F401
